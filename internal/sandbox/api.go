package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/paidup/paidup/internal/sandbox/form"
)

// maxBody is the largest request body the API accepts.
const maxBody = 1 << 20

// apiError is an error in Stripe's shape: {"error": {...}}.
type apiError struct {
	status int
	body   APIErrorBody
	// keep marks errors that happen after a request started changing state
	// (a declined card); Stripe stores them with the idempotency key.
	keep bool
}

// APIErrorBody is the "error" object of a Stripe error response, and the
// last_payment_error of a payment intent.
type APIErrorBody struct {
	Type          string          `json:"type"`
	Code          string          `json:"code,omitempty"`
	DeclineCode   string          `json:"decline_code,omitempty"`
	Message       string          `json:"message,omitempty"`
	Param         string          `json:"param,omitempty"`
	Charge        string          `json:"charge,omitempty"`
	DocURL        string          `json:"doc_url,omitempty"`
	PaymentIntent json.RawMessage `json:"payment_intent,omitempty"`
	RequestLogURL string          `json:"request_log_url,omitempty"`
}

func (e *apiError) Error() string { return e.body.Type + ": " + e.body.Message }

// kept reports whether err leaves the state it reached in place: a declined
// card is recorded; an invalid request changes nothing.
func kept(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.keep
}

func invalidRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, body: APIErrorBody{
		Type: "invalid_request_error", Param: param, Message: fmt.Sprintf(format, args...),
	}}
}

func errNoSuch(object, id, param string) *apiError {
	return &apiError{status: http.StatusNotFound, body: APIErrorBody{
		Type: "invalid_request_error", Code: "resource_missing", Param: param,
		Message: fmt.Sprintf("No such %s: '%s'", object, id),
		DocURL:  "https://stripe.com/docs/error-codes/resource-missing",
	}}
}

// call is one API request being served.
type call struct {
	s         *Sandbox
	r         *http.Request
	params    form.Values
	requestID string
	idemKey   string
	// t is the change this request makes; nil for reads.
	t *txn
	// replay is the stored response sent again for a repeated key.
	replay *idempotencyRecord
	// rawBody is the JSON body of a request to the sandbox's own controls.
	rawBody string
}

// decode binds the request's parameters to dst, answering Stripe's errors
// for unknown, missing and malformed ones.
func (c *call) decode(dst any) error {
	err := form.Decode(c.params, dst)
	var fe *form.Error
	if errors.As(err, &fe) {
		return invalidRequest(fe.Param, "%s", fe.Message)
	}
	if err != nil {
		panic(err) // a params struct the form package cannot bind: a bug
	}
	return nil
}

type apiFunc func(c *call) (any, error)

// api wraps an API handler with what every Stripe endpoint does: request
// ids, authentication, body limits, parameter parsing, idempotency keys, and
// errors in Stripe's shape. Reads share the state lock; writes run in one
// transaction with their idempotency record.
func (s *Sandbox) api(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, r: r, requestID: newID("req")}
		w.Header().Set("Request-Id", c.requestID)
		w.Header().Set("Stripe-Version", s.opts.APIVersion)
		status, body := s.serveAPI(c, h)
		if c.replay != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Original-Request", c.replay.RequestID)
			w.Header().Set("Request-Id", c.replay.RequestID)
		}
		writeJSON(w, status, body)
	})
}

func (s *Sandbox) serveAPI(c *call, h apiFunc) (int, any) {
	r := c.r
	if err := authenticate(r); err != nil {
		return errorResponse(err)
	}
	raw, err := "", error(nil)
	if isControl(r) {
		raw = r.URL.RawQuery
		body, rerr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if rerr != nil {
			return errorResponse(invalidRequest("", "Could not read the request body."))
		}
		if len(body) > maxBody {
			return errorResponse(&apiError{status: http.StatusRequestEntityTooLarge, body: APIErrorBody{
				Type: "invalid_request_error", Message: fmt.Sprintf("The request body is too large: the limit is %d bytes.", maxBody),
			}})
		}
		c.rawBody = string(body)
	} else if raw, err = readParams(r); err != nil {
		return errorResponse(err)
	}
	if c.params, err = form.Parse(raw); err != nil {
		var fe *form.Error
		if errors.As(err, &fe) {
			return errorResponse(invalidRequest(fe.Param, "%s", fe.Message))
		}
		return errorResponse(invalidRequest("", "Invalid request parameters: %v", err))
	}
	if r.Method == http.MethodGet {
		s.mu.Lock()
		defer s.mu.Unlock()
		out, err := h(c)
		if err != nil {
			return errorResponse(err)
		}
		return http.StatusOK, out
	}

	c.idemKey = r.Header.Get("Idempotency-Key")
	if len(c.idemKey) > 255 {
		return errorResponse(invalidRequest("", "Invalid Idempotency-Key: keys must be at most 255 characters long."))
	}
	fingerprint := requestFingerprint(r, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.idemKey != "" {
		if rec, ok := s.objects[idempotencyID(c.idemKey)].(*idempotencyRecord); ok && rec.Created > s.opts.Now().Add(-24*time.Hour).Unix() {
			if rec.Fingerprint != fingerprint {
				return errorResponse(&apiError{status: http.StatusBadRequest, body: APIErrorBody{
					Type: "idempotency_error",
					Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. "+
						"Try using a key other than '%s' if you meant to execute a different request.", c.idemKey),
				}})
			}
			c.replay = rec
			return rec.Status, json.RawMessage(rec.Body)
		}
	}
	req := &EventRequest{ID: &c.requestID}
	if c.idemKey != "" {
		req.IdempotencyKey = &c.idemKey
	}
	var status int
	var out any
	err = s.updateLocked(r.Context(), req, func(t *txn) error {
		c.t = t
		res, err := h(c)
		status, out = http.StatusOK, res
		if err != nil {
			status, out = errorResponse(err)
			if !kept(err) {
				return err
			}
		}
		if c.idemKey != "" {
			body, _ := json.Marshal(out)
			t.put(&idempotencyRecord{
				Key: c.idemKey, Created: s.opts.Now().Unix(), Fingerprint: fingerprint,
				Status: status, Body: body, RequestID: c.requestID,
			})
		}
		return nil
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return status, out
		}
		s.log.Error("sandbox: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return errorResponse(err)
	}
	return status, out
}

func authenticate(r *http.Request) error {
	key := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, cred, _ := strings.Cut(auth, " ")
		switch strings.ToLower(scheme) {
		case "bearer":
			key = strings.TrimSpace(cred)
		case "basic":
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred)); err == nil {
				key, _, _ = strings.Cut(string(b), ":")
			}
		}
	}
	unauthorized := func(msg string) error {
		return &apiError{status: http.StatusUnauthorized, body: APIErrorBody{Type: "invalid_request_error", Message: msg}}
	}
	switch {
	case key == "":
		return unauthorized("You did not provide an API key. You need to provide your API key in the Authorization header, " +
			"using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details.")
	case strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_"):
		return nil
	case strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_"):
		return unauthorized("This is a sandbox: it accepts only test mode keys (sk_test_…). Never send a live key to it.")
	}
	return unauthorized("Invalid API Key provided: " + redactKey(key))
}

// redactKey shows a key as Stripe does in errors: its last four characters,
// and its prefix when it has one.
func redactKey(key string) string {
	if len(key) < 16 {
		return strings.Repeat("*", len(key))
	}
	prefix := ""
	if i := strings.LastIndex(key[:len(key)-4], "_"); i >= 0 && i < 8 {
		prefix = key[:i+1]
	}
	return prefix + strings.Repeat("*", len(key)-len(prefix)-4) + key[len(key)-4:]
}

// isControl reports whether r is a JSON request to the sandbox's own
// controls (/_sandbox/…) rather than to the Stripe API.
func isControl(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/_sandbox/") && r.Method == http.MethodPost
}

// readParams returns the request's parameters in form encoding: the query
// for GET and DELETE, the body for POST.
func readParams(r *http.Request) (string, error) {
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		if len(r.URL.RawQuery) > maxBody {
			return "", &apiError{status: http.StatusRequestURITooLong, body: APIErrorBody{Type: "invalid_request_error", Message: "The request URL is too long."}}
		}
		if r.Method == http.MethodGet || r.ContentLength <= 0 {
			return r.URL.RawQuery, nil
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return "", invalidRequest("", "Invalid request: the Stripe API takes form-encoded bodies (application/x-www-form-urlencoded), not %s.", ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return "", invalidRequest("", "Could not read the request body.")
	}
	if len(body) > maxBody {
		return "", &apiError{status: http.StatusRequestEntityTooLarge, body: APIErrorBody{
			Type: "invalid_request_error", Message: fmt.Sprintf("The request body is too large: the limit is %d bytes.", maxBody),
		}}
	}
	if q := r.URL.RawQuery; q != "" && len(body) == 0 {
		return q, nil
	}
	return string(body), nil
}

// requestFingerprint identifies a request's method, path and parameters, in
// any order, for idempotency keys.
func requestFingerprint(r *http.Request, raw string) string {
	parts := strings.Split(raw, "&")
	slices.Sort(parts)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n%s", r.Method, r.URL.Path, strings.Join(parts, "&"))
	return hex.EncodeToString(h.Sum(nil))
}

func errorResponse(err error) (int, any) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, map[string]any{"error": ae.body}
	}
	return http.StatusInternalServerError, map[string]any{"error": APIErrorBody{
		Type: "api_error", Message: "An unexpected error occurred in the sandbox; the change was not made. Try again.",
	}}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error": {"type": "api_error", "message": "The sandbox could not encode its response."}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

const objectIdempotency = "sandbox.idempotency_key"

// idempotencyRecord is the stored response to a request made with an
// Idempotency-Key, replayed for 24 hours to requests with the same key.
type idempotencyRecord struct {
	Key         string          `json:"key"`
	Created     int64           `json:"created"`
	Fingerprint string          `json:"fingerprint"`
	Status      int             `json:"status"`
	Body        json.RawMessage `json:"body"`
	RequestID   string          `json:"request_id"`
}

func idempotencyID(key string) string { return "idem:" + key }

func (r *idempotencyRecord) objectID() string   { return idempotencyID(r.Key) }
func (r *idempotencyRecord) objectType() string { return objectIdempotency }
func (r *idempotencyRecord) createdAt() int64   { return r.Created }
