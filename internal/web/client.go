package web

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is who a request comes from, for the per-client limits: the
// connection's peer; or, when the peer is a trusted proxy, the rightmost
// X-Forwarded-For address that is not itself a trusted proxy (the
// addresses to its left are whatever the client chose to send). IPv6
// clients are taken by their /64, which one subscriber usually has whole.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	client := peerAddr(r.RemoteAddr)
	if len(s.TrustedProxies) > 0 && s.trustedProxy(client) {
		client = s.forwardedFor(r.Header.Values("X-Forwarded-For"), client)
	}
	if client.Is6() {
		if p, err := client.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return client
}

// peerAddr is the address of a connection's peer, IPv4 as IPv4. A peer
// that is not an IP address (a Unix socket) is the zero address.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right, as the proxies
// appended to it, past the trusted proxies, to the client. An entry that
// is not an address stops the walk at the last trusted hop before it,
// which is then the client as far as paidup can tell.
func (s *Server) forwardedFor(values []string, peer netip.Addr) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, ok := parseForwarded(entry)
			if !ok {
				return client
			}
			if client = a; !s.trustedProxy(a) {
				return a
			}
		}
	}
	return client
}

// parseForwarded reads one X-Forwarded-For entry: an address, or an
// address and port as some proxies write it.
func parseForwarded(entry string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(entry)
	if err != nil {
		ap, perr := netip.ParseAddrPort(entry)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}
