package whitelist

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
)

// HTTPAction is one call of a generic whitelist API: its method, URL and
// body, templated from the player ({{.ID}}, {{.Name}}; {{urlquery .Name}}
// in a URL, {{json .Name}} for a JSON string in a body), and the statuses
// that mean it was done.
type HTTPAction struct {
	Method, URL, Body string
	// Success are the statuses of success; empty: any 2xx.
	Success []int
}

// HTTP is a whitelist behind an HTTP API of the operator's.
type HTTP struct {
	// header is an auth header sent with every call: "Authorization:
	// Bearer …".
	header        string
	client        *http.Client
	grant, revoke *request
}

type request struct {
	HTTPAction
	url, body *template.Template
}

// NewHTTP checks an HTTP whitelist's templates and returns it; header is
// an auth header sent with every call ("Authorization: Bearer …").
func NewHTTP(grant, revoke HTTPAction, header string, client *http.Client) (*HTTP, error) {
	h := &HTTP{header: header, client: client}
	if h.client == nil {
		h.client = &http.Client{}
	}
	var err error
	if h.grant, err = parseAction("grant", grant); err != nil {
		return nil, err
	}
	if h.revoke, err = parseAction("revoke", revoke); err != nil {
		return nil, err
	}
	if header != "" {
		if name, _, ok := strings.Cut(header, ":"); !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(header, "\r\n") {
			return nil, fmt.Errorf("whitelist: the header %q is not Name: value", header)
		}
	}
	return h, nil
}

// funcs are the templates' own: json writes a string as JSON does.
var funcs = template.FuncMap{"json": func(s string) string { b, _ := json.Marshal(s); return string(b) }}

func parseAction(what string, a HTTPAction) (*request, error) {
	r := &request{HTTPAction: a}
	if r.Method == "" {
		r.Method = http.MethodPost
	}
	var err error
	if r.url, err = template.New(what + " url").Funcs(funcs).Option("missingkey=error").Parse(a.URL); err != nil {
		return nil, fmt.Errorf("whitelist: the %s URL: %w", what, err)
	}
	if r.body, err = template.New(what + " body").Funcs(funcs).Option("missingkey=error").Parse(a.Body); err != nil {
		return nil, fmt.Errorf("whitelist: the %s body: %w", what, err)
	}
	if _, _, err := r.render(Player{ID: "8667ba71-b85a-4004-af54-457a9734eed7", Name: "Steve"}); err != nil {
		return nil, fmt.Errorf("whitelist: the %s call: %w", what, err)
	}
	return r, nil
}

func (r *request) render(p Player) (u, body string, err error) {
	var ub, bb bytes.Buffer
	if err = r.url.Execute(&ub, p); err != nil {
		return "", "", err
	}
	if err = r.body.Execute(&bb, p); err != nil {
		return "", "", err
	}
	parsed, err := url.Parse(ub.String())
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return "", "", fmt.Errorf("%q is not an http(s) URL", ub.String())
	}
	return parsed.String(), bb.String(), nil
}

// Grant calls the grant action for the player.
func (h *HTTP) Grant(ctx context.Context, p Player) error { return h.call(ctx, h.grant, p) }

// Revoke calls the revoke action for the player.
func (h *HTTP) Revoke(ctx context.Context, p Player) error { return h.call(ctx, h.revoke, p) }

// List: a generic API has no list paidup knows.
func (h *HTTP) List(context.Context) ([]string, error) { return nil, ErrCannotList }

func (h *HTTP) call(ctx context.Context, r *request, p Player) error {
	u, body, err := r.render(p)
	if err != nil {
		return fmt.Errorf("whitelist: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if name, value, ok := strings.Cut(h.header, ":"); ok {
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("whitelist: %s %s: %w", r.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(r.Success) > 0 {
		ok = slices.Contains(r.Success, resp.StatusCode)
	}
	if !ok {
		return &StatusError{Status: resp.StatusCode}
	}
	return nil
}

// StatusError is an answer of the API that is not a success.
type StatusError struct{ Status int }

func (e *StatusError) Error() string { return fmt.Sprintf("whitelist: the API answered %d", e.Status) }

// Temporary reports whether the same call may succeed later: a 5xx, or
// 429.
func (e *StatusError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}
