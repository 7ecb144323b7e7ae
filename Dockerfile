# refledger: a static binary in a distroless image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/refledger ./cmd/refledger

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/refledger /refledger
EXPOSE 8080
ENTRYPOINT ["/refledger"]
CMD ["serve"]
