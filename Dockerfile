# refledger: a static binary in a distroless image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/refledger ./cmd/refledger && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/refledger /refledger
# The data folder (snapshots), owned by the image's nonroot user so that a
# named volume mounted there starts out writable.
COPY --from=build --chown=65532:65532 /out/data /data
EXPOSE 8080
ENTRYPOINT ["/refledger"]
CMD ["serve"]
