package store

// Pipeline is a Log that takes fenced appends without waiting for the one
// before to be acknowledged, so that a writer deciding its next commit
// does not leave the log idle: one commit is written while the next is
// on its way. Sends are written in the order they are made.
type Pipeline interface {
	Log
	// Send appends c right after the commit at position after, which must
	// be the log's last and, unless afterID is "", the commit with that id
	// (one sent just before, not acknowledged yet: the id makes sure that
	// it, and not another writer's commit, took that position). When the
	// log does not end so, the append fails with ErrWrongPosition. A
	// commit id the log already holds is answered as Duplicate.
	Send(c Commit, after Position, afterID string) *Sending
}

// Sending is an append in flight.
type Sending struct {
	done chan struct{}
	res  Appended
	err  error
}

// NewSending returns an append in flight, for a backend to Finish.
func NewSending() *Sending { return &Sending{done: make(chan struct{})} }

// Finish answers the append; call it once.
func (s *Sending) Finish(res Appended, err error) {
	s.res, s.err = res, err
	close(s.done)
}

// Done is closed once the append is answered.
func (s *Sending) Done() <-chan struct{} { return s.done }

// Result waits for the append's answer: as Log.Append's.
func (s *Sending) Result() (Appended, error) {
	<-s.done
	return s.res, s.err
}
