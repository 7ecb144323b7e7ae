package server

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds the hops of a Forwarded or X-Forwarded-For
// header that are read: a chain of proxies is a few long, and the header's
// size is bounded by the server's header limit anyway.
const maxForwardedHops = 32

// origin is where a request came from: the client's address (invalid
// when unknown) and whether it asked over https.
type origin struct {
	ip    netip.Addr
	https bool
}

// origin tells where r came from. The peer is the client unless it is one
// of Config.TrustedProxies: then its Forwarded header (RFC 7239), or when
// it sends none its X-Forwarded-For and X-Forwarded-Proto, say who the
// client was. From anyone else those headers are ignored: a client could
// claim any address, or https over plain http.
//
// Each proxy appends a hop for the connection it took, so the client is
// the last hop, read from the right, that no trusted proxy made (hops
// further left are what the client itself sent, and are not believed);
// when all are trusted proxies, the first. Forwarded gives that hop's
// proto; X-Forwarded-Proto has no hops, and its first value is taken.
func (s *Server) origin(r *http.Request) origin {
	o := origin{ip: peerAddr(r.RemoteAddr), https: r.TLS != nil}
	if len(s.cfg.TrustedProxies) == 0 || !s.trustedProxy(o.ip) {
		return o
	}
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		hops := parseForwarded(strings.Join(fwd, ","))
		if i := s.clientHop(hops); i >= 0 {
			if hops[i].addr.IsValid() {
				o.ip = hops[i].addr
			}
			o.https = o.https || strings.EqualFold(hops[i].proto, "https")
		}
		return o
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		var hops []hop
		for _, node := range splitHops(strings.Join(xff, ",")) {
			addr, _ := parseNode(node)
			hops = append(hops, hop{addr: addr})
		}
		if i := s.clientHop(hops); i >= 0 && hops[i].addr.IsValid() {
			o.ip = hops[i].addr
		}
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	o.https = o.https || strings.EqualFold(strings.TrimSpace(proto), "https")
	return o
}

// hop is one proxy's account of the connection it took.
type hop struct {
	addr  netip.Addr // the for= node; invalid when unknown or obfuscated
	proto string
}

// clientHop is the index of the client's hop in hops (-1 when none).
func (s *Server) clientHop(hops []hop) int {
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].addr.IsValid() || !s.trustedProxy(hops[i].addr) {
			return i
		}
	}
	return min(0, len(hops)-1)
}

func (s *Server) trustedProxy(addr netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseForwarded reads the for= and proto= of each element of a
// Forwarded header (RFC 7239 section 4), at most maxForwardedHops of
// them, the last ones. Parameter names are case-insensitive; values are
// tokens or quoted strings.
func parseForwarded(header string) []hop {
	elements := splitHops(header)
	hops := make([]hop, 0, len(elements))
	for _, el := range elements {
		var h hop
		for _, pair := range splitQuoted(el, ';') {
			name, value, _ := strings.Cut(pair, "=")
			value = unquote(strings.TrimSpace(value))
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "for":
				h.addr, _ = parseNode(value)
			case "proto":
				h.proto = value
			}
		}
		hops = append(hops, h)
	}
	return hops
}

// splitHops splits a header's comma-separated list, keeping the last
// maxForwardedHops items.
func splitHops(header string) []string {
	items := splitQuoted(header, ',')
	if len(items) > maxForwardedHops {
		items = items[len(items)-maxForwardedHops:]
	}
	return items
}

// splitQuoted splits s at sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `\`, "")
	}
	return s
}

// parseNode reads a node: an address, with or without a port, IPv6 in
// brackets or bare. "unknown" and obfuscated names are not addresses.
func parseNode(node string) (netip.Addr, bool) {
	node = unquote(strings.TrimSpace(node))
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(node, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(node); err == nil {
		return ap.Addr().Unmap(), true
	}
	if end := strings.IndexByte(node, ']'); strings.HasPrefix(node, "[") && end > 0 {
		if a, err := netip.ParseAddr(node[1:end]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// peerAddr is the address of a connection's peer (invalid if it has none).
func peerAddr(remote string) netip.Addr {
	a, _ := parseNode(remote)
	return a
}
