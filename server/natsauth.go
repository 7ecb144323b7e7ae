package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// NATSAuth decides who may connect to the embedded NATS server and what
// each may do, with the same roles as HTTP:
//
//   - the service itself (its in-process connection), and commands run
//     beside it on the data folder, which read the service's secret from
//     the folder: everything;
//   - a publisher token: publish on the ingest subjects, and hear the
//     replies to its requests;
//   - an operator token: that, and read the logs through the JetStream API
//     (stream info, messages by position), but never write, purge or
//     delete them, nor make consumers;
//   - finance and partner tokens read over HTTP only: refused;
//   - no token: refused, unless serve has no tokens at all (then NATS,
//     like HTTP, listens on loopback only) and the client may publish
//     events as a publisher does.
//
// A client gives its token as the NATS token or as the password (any
// user name). No one but the service and commands on the data folder may
// publish on the log subjects or use the JetStream API that changes a
// stream: a purge or a foreign message cannot come through this server.
// The service answers requests only on an inbox (replyAllowed), or its
// answer would go where the requester chose.
type NATSAuth struct {
	secret string
	tokens []tokenRole
	open   bool
}

type tokenRole struct {
	token []byte
	role  Role
}

// NewNATSAuth makes the authentication of a serve with the given HTTP
// tokens, and a new random secret of the service's own.
func NewNATSAuth(tokens map[string]Role) *NATSAuth {
	b := make([]byte, 24)
	rand.Read(b) //nolint:errcheck // crypto/rand never fails on Linux
	a := &NATSAuth{secret: hex.EncodeToString(b), open: len(tokens) == 0}
	for token, role := range tokens {
		a.tokens = append(a.tokens, tokenRole{token: []byte(token), role: role})
	}
	return a
}

// Secret is the service's own token: its in-process connection's, and
// what commands beside it read from the data folder.
func (a *NATSAuth) Secret() string { return a.secret }

// Check implements natsserver.Authentication.
func (a *NATSAuth) Check(c natsserver.ClientAuthentication) bool {
	opts := c.GetOpts()
	given := opts.Token
	if given == "" {
		given = opts.Password
	}
	var perms *natsserver.Permissions
	name := "anonymous"
	switch role, ok := a.roleOf(given); {
	case given == "" && a.open:
		perms = publisherPermissions()
	case !ok:
		return false
	case role == roleService:
		name, perms = "refledger", nil // everything
	case role == RolePublisher:
		name, perms = string(role), publisherPermissions()
	case role == RoleOperator:
		name, perms = string(role), operatorPermissions()
	default:
		return false // finance and partners read over HTTP
	}
	c.RegisterUser(&natsserver.User{Username: name, Permissions: perms})
	return true
}

// roleService is the service's own, in NATSAuth only.
const roleService Role = "refledger-service"

// roleOf finds the role of a given token, comparing it with every token
// in constant time.
func (a *NATSAuth) roleOf(given string) (Role, bool) {
	if given == "" {
		return "", false
	}
	g := []byte(given)
	found := Role("")
	if subtle.ConstantTimeCompare(g, []byte(a.secret)) == 1 {
		found = roleService
	}
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(g, t.token) == 1 {
			found = t.role
		}
	}
	return found, found != ""
}

// inbox is where nats.go clients hear replies to their requests.
const inbox = "_INBOX.>"

func publisherPermissions() *natsserver.Permissions {
	return &natsserver.Permissions{
		Publish:   &natsserver.SubjectPermission{Allow: []string{IngestSubject, IngestBatchSubject}},
		Subscribe: &natsserver.SubjectPermission{Allow: []string{inbox}},
	}
}

// operatorPermissions read the logs: stream names and info, and messages
// by position (the message get and direct get APIs). Not consumers: a
// subject permission cannot bound where a push consumer delivers (into
// refledger.log.facts, say), and pulling from the service's intake
// consumer would acknowledge, so remove, events it has not taken.
func operatorPermissions() *natsserver.Permissions {
	return &natsserver.Permissions{
		Publish: &natsserver.SubjectPermission{
			Allow: []string{
				IngestSubject, IngestBatchSubject,
				"$JS.API.INFO",
				"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*",
				"$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.>",
			},
		},
		Subscribe: &natsserver.SubjectPermission{Allow: []string{inbox}},
	}
}
