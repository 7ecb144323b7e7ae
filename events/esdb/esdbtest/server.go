// Package esdbtest is an in-process EventStoreDB server for tests, built on
// the client module's own generated gRPC definitions: the Streams service's
// Append (with expected revision and idempotent event ids) and Read (stream
// reads in both directions, and subscriptions that catch up then go live).
// It speaks the real wire protocol over a loopback listener, so the esdb
// adapter is tested through the real client. It keeps everything in memory.
//
// esdbtest imports only the client module's protocol packages and grpc.
package esdbtest

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Server is a running in-process server.
type Server struct {
	api.UnimplementedStreamsServer
	grpc *grpc.Server
	addr string

	mu      sync.Mutex
	streams map[string][]*event
	commit  uint64        // global commit position
	grew    chan struct{} // closed and replaced on every append
}

type event struct {
	id       *shared.UUID
	key      string // the id, comparable
	revision uint64
	commit   uint64
	metadata map[string]string
	custom   []byte
	data     []byte
}

// Start serves on a free loopback port until Stop.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{grpc: grpc.NewServer(), addr: ln.Addr().String(), streams: map[string][]*event{}, grew: make(chan struct{})}
	api.RegisterStreamsServer(s.grpc, s)
	go s.grpc.Serve(ln) //nolint:errcheck // ends with Stop
	return s, nil
}

// URL is the connection string for the client.
func (s *Server) URL() string { return "esdb://" + s.addr + "?tls=false" }

// Stop ends the server.
func (s *Server) Stop() { s.grpc.Stop() }

func uuidKey(u *shared.UUID) string {
	if st := u.GetStructured(); st != nil {
		return fmt.Sprintf("%x:%x", st.MostSignificantBits, st.LeastSignificantBits)
	}
	return u.GetString_()
}

// Append takes the options, then the proposed events, then answers.
func (s *Server) Append(stream api.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must hold the options")
	}
	var proposed []*api.AppendReq_ProposedMessage
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if pm := m.GetProposedMessage(); pm != nil {
			proposed = append(proposed, pm)
		}
	}
	return stream.SendAndClose(s.append(string(opts.StreamIdentifier.GetStreamName()), opts, proposed))
}

func (s *Server) append(name string, opts *api.AppendReq_Options, proposed []*api.AppendReq_ProposedMessage) *api.AppendResp {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.streams[name]
	// Idempotent writes: the same event ids again succeed without writing.
	if len(proposed) > 0 {
		for _, e := range events {
			if e.key == uuidKey(proposed[0].Id) {
				last := e.revision + uint64(len(proposed)) - 1
				return success(last, e.commit)
			}
		}
	}
	if wrong := checkExpected(opts, events); wrong != nil {
		return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrong}}
	}
	for _, pm := range proposed {
		s.commit++
		md := map[string]string{"created": strconv.FormatInt(time.Now().UnixNano()/100, 10)}
		for k, v := range pm.Metadata {
			md[k] = v
		}
		events = append(events, &event{id: pm.Id, key: uuidKey(pm.Id), revision: uint64(len(events)), commit: s.commit, metadata: md, custom: pm.CustomMetadata, data: pm.Data})
	}
	s.streams[name] = events
	close(s.grew)
	s.grew = make(chan struct{})
	if len(events) == 0 {
		return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
			PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
		}}}
	}
	return success(uint64(len(events)-1), s.commit)
}

func success(revision, commit uint64) *api.AppendResp {
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: revision},
		PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: commit, PreparePosition: commit}},
	}}}
}

// checkExpected returns the refusal when the stream is not where the
// append expects it, or nil.
func checkExpected(opts *api.AppendReq_Options, events []*event) *api.AppendResp_WrongExpectedVersion {
	wrong := &api.AppendResp_WrongExpectedVersion{}
	if len(events) == 0 {
		wrong.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		wrong.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(len(events) - 1)}
	}
	switch e := opts.ExpectedStreamRevision.(type) {
	case *api.AppendReq_Options_Revision:
		if len(events) == 0 || uint64(len(events)-1) != e.Revision {
			wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
			return wrong
		}
	case *api.AppendReq_Options_NoStream:
		if len(events) != 0 {
			wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
			return wrong
		}
	case *api.AppendReq_Options_StreamExists:
		if len(events) == 0 {
			wrong.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
			return wrong
		}
	}
	return nil
}

// Read serves stream reads and stream subscriptions. Reads of $all are not
// served: the adapter reads streams.
func (s *Server) Read(req *api.ReadReq, out api.Streams_ReadServer) error {
	opts := req.GetOptions()
	so := opts.GetStream()
	if so == nil {
		return status.Error(codes.Unimplemented, "this test server reads streams only")
	}
	name := string(so.StreamIdentifier.GetStreamName())
	if sub := opts.GetSubscription(); sub != nil {
		return s.subscribe(name, so, out)
	}
	events, _ := s.snapshot(name)
	if len(events) == 0 {
		return out.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{StreamIdentifier: so.StreamIdentifier}}})
	}
	count := opts.GetCount()
	backwards := opts.ReadDirection == api.ReadReq_Options_Backwards
	start := int64(0)
	switch r := so.RevisionOption.(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		start = int64(r.Revision)
	case *api.ReadReq_Options_StreamOptions_End:
		start = int64(len(events))
		if backwards {
			start = int64(len(events) - 1)
		}
	}
	for i, n := start, uint64(0); i >= 0 && i < int64(len(events)) && n < count; n++ {
		if err := out.Send(readEvent(name, events[i])); err != nil {
			return err
		}
		if backwards {
			i--
		} else {
			i++
		}
	}
	return nil
}

func (s *Server) snapshot(name string) ([]*event, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[name], s.grew
}

// subscribe confirms, delivers the events after the start revision (all
// from the start), then every new one until the client goes away.
func (s *Server) subscribe(name string, so *api.ReadReq_Options_StreamOptions, out api.Streams_ReadServer) error {
	if err := out.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{SubscriptionId: name}}}); err != nil {
		return err
	}
	next := 0
	switch r := so.RevisionOption.(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		next = int(r.Revision) + 1
	case *api.ReadReq_Options_StreamOptions_End:
		events, _ := s.snapshot(name)
		next = len(events)
	}
	for {
		events, grew := s.snapshot(name)
		for ; next < len(events); next++ {
			if err := out.Send(readEvent(name, events[next])); err != nil {
				return err
			}
		}
		select {
		case <-out.Context().Done():
			return out.Context().Err()
		case <-grew:
		}
	}
}

func readEvent(name string, e *event) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id: e.id, StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
			StreamRevision: e.revision, PreparePosition: e.commit, CommitPosition: e.commit,
			Metadata: e.metadata, CustomMetadata: e.custom, Data: e.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.commit},
	}}}
}
