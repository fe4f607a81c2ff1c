package view

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is who a request comes from, for the per-client limits: the
// connection's peer; or, when the peer is a trusted proxy, the rightmost
// X-Forwarded-For address that is not itself a trusted proxy (the
// addresses to its left are whatever the client chose to send). IPv6
// clients are taken by their /64, which one subscriber usually has whole.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	client := peerAddr(r.RemoteAddr)
	if len(trusted) > 0 && trustedProxy(trusted, client) {
		client = forwardedFor(trusted, r.Header.Values("X-Forwarded-For"), client)
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

func trustedProxy(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
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
func forwardedFor(trusted []netip.Prefix, values []string, peer netip.Addr) netip.Addr {
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
			if client = a; !trustedProxy(trusted, a) {
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
