package main

// One owner per data folder, enforced by the kernel.
//
// Every process that opens the embedded store (serve, import, replay, the
// reports) first takes an exclusive flock on DATA/LOCK and holds it for its
// life: two writers of the same JetStream files lose each other's appends,
// and a kill -9 must not leave an owner behind. The kernel releases a dead
// process's lock, so a free lock is the whole truth: nobody owns the folder,
// whatever DATA/owner.json still says.
//
// The holder describes itself (pid, command, since, and once serving its
// NATS and HTTP URLs) in DATA/owner.json, written by temp file and rename:
// never over LOCK itself, whose inode carries the lock. Taking LOCK and
// writing the description happen under a second, short-held flock on
// DATA/LOCK.describe, and a process that finds LOCK held reads the
// description under it too: so it never reads the description of a
// previous holder that died, nor one half written.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const (
	lockFile     = "LOCK"          // flocked for the life of the owner
	describeLock = "LOCK.describe" // flocked while LOCK is taken and described, or read
	ownerFile    = "owner.json"    // the owner's description
)

const (
	// describeWait bounds the wait for LOCK.describe, which a process
	// holds only while it writes or reads a small file.
	describeWait = 5 * time.Second
	// lockPoll is how often a waiting process tries the lock again.
	lockPoll = 25 * time.Millisecond
	// defaultLockWait is --wait's default: longer than an import or a
	// replay of ten million facts takes.
	defaultLockWait = 30 * time.Minute
)

// storeEventStore marks an owner that serves EventStoreDB: its NATS server
// carries ingestion only, not the logs.
const storeEventStore = "eventstore"

// ownerInfo is what the owner of a data folder says of itself.
type ownerInfo struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
	Store   string    `json:"store,omitempty"` // storeEventStore, or empty: the embedded store
	NATSURL string    `json:"nats_url,omitempty"`
	// NATSToken is the service's own NATS secret: commands beside it read
	// it here (the file is the owner's alone, mode 0600) and connect with
	// every permission, as the data folder's files would give them.
	NATSToken string `json:"nats_token,omitempty"`
	HTTPURL   string `json:"http_url,omitempty"`
	// Stopping: a serve that drains and will let the folder go; commands
	// wait for that rather than start on a service that is going away.
	Stopping bool `json:"stopping,omitempty"`
}

func (o ownerInfo) String() string {
	return fmt.Sprintf("refledger %s (pid %d, since %s)", o.Command, o.PID, o.Since.Local().Format(time.DateTime))
}

// serving says whether the owner is a serve that answers on NATS for the
// embedded store: other commands then go through it.
func (o ownerInfo) serving() bool {
	return o.Command == "serve" && o.NATSURL != "" && o.Store == "" && !o.Stopping
}

// folderLock is a data folder this process owns.
type folderLock struct {
	dir  string
	f    *os.File
	info ownerInfo
}

// errFolderOwned: a serve found the folder owned by another serve.
var errFolderOwned = errors.New("one service per data folder")

// claimer is who asks for a data folder, and how it waits.
type claimer struct {
	command string
	store   string // storeEventStore for serve on EventStoreDB
	serve   bool   // refuse, rather than wait or go through, another serve
	until   time.Time
	stderr  io.Writer // where a waiting process says once whom it waits for
}

// claimFolder takes the data folder's lock, or returns the serve that owns
// it when c may go through a service. While another command (import,
// replay, report), or a serve still starting, holds the lock, it waits,
// until c.until or ctx ends, saying once on stderr whom it waits for.
func claimFolder(ctx context.Context, dir string, c claimer) (*folderLock, *ownerInfo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("data folder: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("data folder %s: lock: %w", dir, err)
	}
	me := ownerInfo{PID: os.Getpid(), Command: c.command, Since: time.Now().UTC().Truncate(time.Second), Store: c.store}
	var told ownerInfo
	for {
		got, holder, err := tryClaim(ctx, dir, f, me)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if got {
			return &folderLock{dir: dir, f: f, info: me}, nil, nil
		}
		waitingFor := "to finish"
		switch {
		case holder.Command == "serve" && c.serve:
			f.Close()
			return nil, nil, fmt.Errorf("data folder %s is owned by %s: stop that service first, or give this one another --data folder (%w)", dir, holder, errFolderOwned)
		case holder.Command == "serve" && holder.Store == storeEventStore:
			f.Close()
			return nil, nil, fmt.Errorf("data folder %s is owned by %s, which keeps its logs in EventStoreDB: give this command the same --eventstore-url", dir, holder)
		case holder.serving():
			f.Close()
			return nil, &holder, nil
		case holder.Command == "serve" && holder.Stopping:
			waitingFor = "to stop"
		case holder.Command == "serve":
			waitingFor = "to start serving"
		case holder.PID == 0:
			holder.Command, waitingFor = "(a process that did not say who it is)", "to let go"
		}
		if holder != told {
			fmt.Fprintf(c.stderr, "refledger: data folder %s is held by %s: waiting for it %s (up to --wait, Ctrl-C to stop)\n", dir, holder, waitingFor)
			told = holder
		}
		if time.Now().After(c.until) {
			f.Close()
			return nil, nil, fmt.Errorf("data folder %s: waited until %s for %s %s: try again later, or raise --wait", dir, c.until.Local().Format(time.DateTime), holder, waitingFor)
		}
		if err := sleepCtx(ctx, lockPoll); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("waiting for data folder %s, held by %s: %w", dir, holder, err)
		}
	}
}

// tryClaim tries LOCK once, under LOCK.describe: it either takes LOCK and
// describes me, or reads the description of the process that holds it.
func tryClaim(ctx context.Context, dir string, lock *os.File, me ownerInfo) (bool, ownerInfo, error) {
	guard, err := lockDescribe(ctx, dir)
	if err != nil {
		return false, ownerInfo{}, err
	}
	defer guard.Close() // releases the guard
	err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		// Written before the holder let the guard go: unreadable only if
		// someone else touched it, and then the holder is unnamed (PID 0).
		holder, _ := readOwner(dir)
		return false, holder, nil
	}
	if err != nil {
		return false, ownerInfo{}, fmt.Errorf("data folder %s: lock %s: %w", dir, lockFile, err)
	}
	if err := writeOwner(dir, me); err != nil {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file releases it too
		return false, ownerInfo{}, err
	}
	return true, ownerInfo{}, nil
}

// lockDescribe takes LOCK.describe; closing the file releases it.
func lockDescribe(ctx context.Context, dir string) (*os.File, error) {
	g, err := os.OpenFile(filepath.Join(dir, describeLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	deadline := time.Now().Add(describeWait)
	for {
		err := syscall.Flock(int(g.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return g, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			g.Close()
			return nil, fmt.Errorf("data folder %s: lock %s (held longer than %s): %w", dir, describeLock, describeWait, err)
		}
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			g.Close()
			return nil, err
		}
	}
}

// describe rewrites the owner's description, as when a serve has its URLs.
func (l *folderLock) describe(natsURL, natsToken, httpURL string) error {
	l.info.NATSURL, l.info.NATSToken, l.info.HTTPURL = natsURL, natsToken, httpURL
	return writeOwner(l.dir, l.info)
}

// stopping says that the serve owning the folder drains and will let it go.
func (l *folderLock) stopping() error {
	l.info.Stopping = true
	return writeOwner(l.dir, l.info)
}

// release removes the description and lets the folder go. A process that
// dies without it loses the lock all the same; only owner.json stays.
func (l *folderLock) release() {
	if guard, err := lockDescribe(context.Background(), l.dir); err == nil {
		os.Remove(filepath.Join(l.dir, ownerFile))
		l.f.Close()
		guard.Close()
		return
	}
	l.f.Close()
}

func writeOwner(dir string, info ownerInfo) error {
	b, _ := json.Marshal(info)
	tmp, err := os.CreateTemp(dir, ownerFile+".*")
	if err != nil {
		return fmt.Errorf("describe the owner of %s: %w", dir, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, ownerFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("describe the owner of %s: %w", dir, err)
	}
	return nil
}

func readOwner(dir string) (ownerInfo, error) {
	var info ownerInfo
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	return info, err
}

// runningService returns the serve that owns dir and answers on NATS, if
// one does. It only looks: it takes nothing.
func runningService(dir string) (ownerInfo, bool) {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		return ownerInfo{}, false
	}
	defer f.Close()
	guard, err := lockDescribe(context.Background(), dir)
	if err != nil {
		return ownerInfo{}, false
	}
	defer guard.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil {
		return ownerInfo{}, false // free: nobody owns the folder (closing f lets it go)
	}
	info, err := readOwner(dir)
	return info, err == nil && info.serving()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
