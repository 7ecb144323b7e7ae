package server

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"

	"go.uber.org/zap"
)

// Role is what a bearer token may do.
type Role string

// Roles, each allowed what the one before it is and more, except that a
// publisher may only ingest.
const (
	RolePublisher Role = "publisher" // ingest events
	RoleFinance   Role = "finance"   // reads and payouts
	RoleOperator  Role = "operator"  // everything
	// RolePartner is a partner's own token: its role is "partner:ID"
	// (PartnerRole), which reads that partner's profile, clicks, links,
	// commissions, balances and statement, and its part of the
	// explanations of orders it had a part in, and nothing else.
	RolePartner Role = "partner"
)

// PartnerRole is the role of partner id's own token.
func PartnerRole(id string) Role { return RolePartner + ":" + Role(id) }

// partner is the partner a partner's token is for.
func (r Role) partner() (string, bool) { return strings.CutPrefix(string(r), string(RolePartner)+":") }

func (r Role) isPartner() bool { _, ok := r.partner(); return ok }

// ParseTokens reads "role:token,role:token" (REFLEDGER_TOKENS), where a
// partner's own token is "partner:ID:token".
func ParseTokens(spec string) (map[string]Role, error) {
	out := map[string]Role{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		role, token, ok := strings.Cut(item, ":")
		r := Role(role)
		if r == RolePartner {
			var id string
			id, token, ok = strings.Cut(token, ":")
			if !ok || id == "" {
				return nil, fmt.Errorf("token %q: want partner:ID:token", item)
			}
			r = PartnerRole(id)
		}
		switch {
		case !ok || token == "":
			return nil, fmt.Errorf("token %q: want role:token", item)
		case r != RolePublisher && r != RoleFinance && r != RoleOperator && !r.isPartner():
			return nil, fmt.Errorf("token role %q: want publisher, finance, operator or partner:ID", role)
		case len(token) < 16:
			return nil, fmt.Errorf("token for %s is %d characters: use at least 16", r, len(token))
		default:
			out[token] = r
		}
	}
	return out, nil
}

// allows reports whether a token's role may do what needs requires.
func (r Role) allows(needs Role) bool {
	switch r {
	case RoleOperator:
		return true
	case RoleFinance:
		return needs == RoleFinance
	}
	return r == needs
}

// Config configures the service.
type Config struct {
	// Tokens maps bearer tokens to roles. Empty: no auth (loopback only;
	// cmd enforces the binding).
	Tokens map[string]Role
	// TrustedProxies are the reverse proxies whose Forwarded,
	// X-Forwarded-For and X-Forwarded-Proto headers are believed: they
	// set the client address a click records and whether the visitor
	// cookie is Secure. Empty: those headers are ignored from everyone.
	TrustedProxies []netip.Prefix
	// AnonymizeIP drops the last octet of IPv4 (the last 80 bits of IPv6)
	// addresses recorded with clicks.
	AnonymizeIP bool
	// SnapshotDir holds the snapshots that spare a restart from refolding
	// the logs ("" keeps none). They are a cache: losing them costs time,
	// never data.
	SnapshotDir string
	// Now is the clock; nil means time.Now. It says when a fact arrived:
	// what MaxFuture bounds a fact's time by, and the arrival time the
	// fact log keeps with each fact (events.Fact.Arrived).
	Now func() time.Time
	// MaxFuture is how far ahead of its arrival a fact's time may lie
	// (events.CheckArrival); zero means events.DefaultMaxFuture, 24 h.
	MaxFuture time.Duration
	// Log receives the service's own events: each error once, where a
	// background loop meets it.
	Log *zap.Logger
	// ProgressEvery spaces the progress lines a long job (a replay, the
	// ledger writer's rebuild) logs; zero means every 10 s.
	ProgressEvery time.Duration
	// Rejections is the log that keeps the events of plain publishes that
	// were not appended, with their reasons (store.RejectionsLog); nil
	// keeps them in memory only, for tests.
	Rejections store.Log
	// IntakeReplicas is the replication of the NATS intake stream: 1 on
	// one server, 3 on a three-node cluster.
	IntakeReplicas int
}

// progressEvery is how far apart a long job's progress lines are.
func (c *Config) progressEvery() time.Duration {
	if c.ProgressEvery > 0 {
		return c.ProgressEvery
	}
	return 10 * time.Second
}

// maxFuture is how far ahead of its arrival a fact's time may lie.
func (c *Config) maxFuture() time.Duration {
	if c.MaxFuture > 0 {
		return c.MaxFuture
	}
	return events.DefaultMaxFuture
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// Limits of requests.
const (
	maxBodyBytes        = 4 << 20
	maxEventsPerCall    = 1000
	rejectionsKept      = 10_000
	replaysKept         = 32
	natsWorkers         = 512
	ingestQueue         = 16_384
	visitorCookie       = "rl_vid"
	visitorCookieDays   = 400
	visitorCookieMaxAge = "34560000" // visitorCookieDays in seconds
)

// Snapshot files, in Config.SnapshotDir (the commands beside serve read
// the writer's and the read models' too).
const (
	WriterSnapshotFile = "ledger-writer.snap"
	IndexSnapshotFile  = "ingest-index.snap"
	ReadModelsFile     = "read-models.snap"
)

// snapshotPath is where a snapshot file goes ("" when snapshots are off).
func (c *Config) snapshotPath(file string) string {
	if c.SnapshotDir == "" {
		return ""
	}
	return filepath.Join(c.SnapshotDir, file)
}

// maxTrustedProxies bounds the ranges of trusted proxies.
const maxTrustedProxies = 64

// ParseTrustedProxies reads "CIDR,CIDR,..." (REFLEDGER_TRUSTED_PROXIES),
// where a bare address stands for itself alone. A range with bits set
// past its length (10.0.0.1/8) is an error: it is likely a typo.
func ParseTrustedProxies(spec string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case len(out) == maxTrustedProxies:
			return nil, fmt.Errorf("more than %d ranges of trusted proxies", maxTrustedProxies)
		case !strings.Contains(item, "/"):
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an IP address or a CIDR range", item)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy range %q: %v", item, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("trusted proxy range %q has bits set past its length: did you mean %s?", item, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}
