package server

import (
	"hash/maphash"
	"strings"
	"sync"
)

// replyAllowed reports whether the service may answer on reply: only a
// client's inbox. The service's connection may publish anywhere, so an
// answer sent to a reply subject the requester chose (refledger.log.facts,
// say) would write where the requester itself may not: a request whose
// reply is not an inbox is taken as a plain publish instead.
func replyAllowed(reply string) bool { return strings.HasPrefix(reply, "_INBOX.") }

// answeredMax bounds the requests answered remembered for the intake.
const answeredMax = 1 << 16

// answered remembers, by a digest of their bytes, the latest requests on
// IngestSubject that the core subscription answered: the intake stream
// holds a copy of each, which the intake appends as a duplicate but must
// neither count again nor record as a rejection of a plain publish (the
// requester had its answer).
type answered struct {
	seed maphash.Seed
	mu   sync.Mutex
	set  map[uint64]int // digest -> how many copies are still to come
	ring []uint64       // oldest first, at most answeredMax
}

func newAnswered() *answered {
	return &answered{seed: maphash.MakeSeed(), set: map[uint64]int{}}
}

func (a *answered) add(msg []byte) {
	d := maphash.Bytes(a.seed, msg)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.ring) >= answeredMax {
		old := a.ring[0]
		a.ring = a.ring[1:]
		if a.set[old]--; a.set[old] <= 0 {
			delete(a.set, old)
		}
	}
	a.ring = append(a.ring, d)
	a.set[d]++
}

// take reports whether msg is the copy of an answered request, and forgets
// one such answer.
func (a *answered) take(msg []byte) bool {
	d := maphash.Bytes(a.seed, msg)
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.set[d]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(a.set, d)
	} else {
		a.set[d] = n - 1
	}
	return true
}
