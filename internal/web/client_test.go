package web

import (
	"net/http"
	"net/netip"
	"testing"
)

// The client is the peer, unless the peer is a trusted proxy: then the
// rightmost forwarded address that is not itself a trusted proxy. IPv6
// clients are taken by /64.
func TestClientAddr(t *testing.T) {
	s := &Server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	tests := []struct {
		name, peer string
		forwarded  []string
		want       string
	}{
		{"direct", "198.51.100.7:4000", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7:4000", []string{"203.0.113.1"}, "198.51.100.7"},
		{"behind a proxy", "10.0.0.2:4000", []string{"203.0.113.1"}, "203.0.113.1"},
		{"the client's own claim is ignored", "10.0.0.2:4000", []string{"6.6.6.6, 203.0.113.1"}, "203.0.113.1"},
		{"through two proxies", "10.0.0.2:4000", []string{"6.6.6.6, 203.0.113.1, 10.9.9.9"}, "203.0.113.1"},
		{"several header lines", "10.0.0.2:4000", []string{"6.6.6.6", "203.0.113.1", "10.1.1.1"}, "203.0.113.1"},
		{"only proxies", "10.0.0.2:4000", []string{"10.3.3.3"}, "10.3.3.3"},
		{"no header", "10.0.0.2:4000", nil, "10.0.0.2"},
		{"empty entries", "10.0.0.2:4000", []string{"203.0.113.1, ,"}, "203.0.113.1"},
		{"garbage stops at the last proxy", "10.0.0.2:4000", []string{"203.0.113.1, bogus"}, "10.0.0.2"},
		{"with a port", "10.0.0.2:4000", []string{"203.0.113.1:5555"}, "203.0.113.1"},
		{"IPv4-mapped", "[::ffff:10.0.0.2]:4000", []string{"::ffff:203.0.113.1"}, "203.0.113.1"},
		{"IPv6 by /64", "[2001:db8:1:2:3:4:5:6]:4000", nil, "2001:db8:1:2::"},
		{"IPv6 behind a proxy", "[::1]:4000", []string{"[2001:db8:aa:bb::1]:80"}, "2001:db8:aa:bb::"},
		{"IPv6 zone dropped", "[fe80::1%eth0]:4000", nil, "fe80::"},
		{"not an IP peer", "@", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.forwarded {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddr(r).String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	if got := (&Server{}).clientAddr(&http.Request{RemoteAddr: "10.0.0.2:1", Header: http.Header{"X-Forwarded-For": {"1.2.3.4"}}}); got.String() != "10.0.0.2" {
		t.Errorf("without trusted proxies the header is ignored: got %s", got)
	}
}

// BenchmarkClientAddr is the cost of telling who a request is from, behind
// a trusted proxy: the peer and a two-hop X-Forwarded-For.
func BenchmarkClientAddr(b *testing.B) {
	s := &Server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	r := &http.Request{RemoteAddr: "10.0.0.2:4000", Header: http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.1, 10.9.9.9"}}}
	for b.Loop() {
		s.clientAddr(r)
	}
}
