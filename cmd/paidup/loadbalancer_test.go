package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loadBalancer is a round-robin HTTP proxy in front of several paidup
// instances, as a load balancer with health checks would be: a request
// goes to the next instance in turn, and to the one after if that one
// refuses the connection (it is down, or stopping). A request an instance
// accepted and then dropped (it was killed) is answered 502, as a real
// load balancer answers it; the customer reloads, the processor sends the
// webhook again.
type loadBalancer struct {
	URL      string
	backends []*backend
	next     atomic.Uint64
	// transport opens a connection per request: an instance that stops
	// closes its idle connections, and a request sent on one of those
	// would fail without the instance having seen it.
	transport *http.Transport
}

// backend is one instance behind the load balancer, and what it served.
type backend struct {
	name, addr string
	// pages counts the customers' and the API's requests it answered,
	// webhooks the webhooks it acknowledged, errors its 5xx answers,
	// refused the requests passed on because it refused the connection,
	// and dropped those it accepted and never answered.
	pages, webhooks, errors, refused, dropped atomic.Int64
}

// startLoadBalancer listens on a loopback port and forwards to addrs (each
// host:port), named by names.
func startLoadBalancer(t *testing.T, names, addrs []string) *loadBalancer {
	t.Helper()
	lb := &loadBalancer{transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}
	for i, a := range addrs {
		lb.backends = append(lb.backends, &backend{name: names[i], addr: a})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: lb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return lb
}

func (lb *loadBalancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	first := lb.next.Add(1)
	for i := range len(lb.backends) {
		b := lb.backends[(first+uint64(i))%uint64(len(lb.backends))]
		resp, err := lb.forward(r, b, body)
		if errors.Is(err, syscall.ECONNREFUSED) {
			b.refused.Add(1)
			continue
		}
		if err != nil {
			b.dropped.Add(1)
			http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
			return
		}
		b.count(r, resp.StatusCode)
		copyResponse(w, resp)
		return
	}
	http.Error(w, "no instance is up", http.StatusBadGateway)
}

// forward sends the request to one instance, as it came, with the Host it
// was sent to (paidup's public address).
func (lb *loadBalancer) forward(r *http.Request, b *backend, body []byte) (*http.Response, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+b.addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		out.Header[k] = vs
	}
	out.Host = r.Host
	if client, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", client)
	}
	return lb.transport.RoundTrip(out)
}

func (b *backend) count(r *http.Request, status int) {
	switch {
	case status >= 500:
		b.errors.Add(1)
	case r.URL.Path == "/webhooks/stripe" && status == http.StatusOK:
		b.webhooks.Add(1)
	default:
		b.pages.Add(1)
	}
}

func copyResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}
