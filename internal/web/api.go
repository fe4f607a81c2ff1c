package web

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/paidup/paidup"
)

// apiHeaders marks every API answer, errors and refusals included, as
// not to be sniffed or stored: they carry customers' data.
func apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// apiAuth lets through requests bearing one of the API keys. Anything else
// gets a bare 401. A client that has failed too often is refused before
// its key is compared; a right key takes nothing from any allowance.
func (s *Server) apiAuth(next http.Handler) http.Handler {
	failures := s.limits.apiAuth
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var client netip.Addr
		if failures != nil {
			client = s.clientAddr(r)
			if spent, retry := failures.clients.Spent(client); spent {
				s.countLimited(r, failures.name, client)
				apiLimited(w, retry)
				return
			}
		}
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		match := 0
		for _, k := range s.APIKeys {
			// Compare with every key, so timing reveals nothing.
			match |= subtle.ConstantTimeCompare([]byte(key), []byte(k))
		}
		if !ok || match != 1 {
			if failures != nil {
				failures.clients.Allow(client)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="paidup"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accessResponse is what the operator's app learns about a customer.
type accessResponse struct {
	Customer *apiCustomer `json:"customer"`
	Active   bool         `json:"active"`
	Tier     string       `json:"tier"`
	Blocked  bool         `json:"blocked"`
	Until    *time.Time   `json:"until"`
	Grants   []apiGrant   `json:"grants"`
}

type apiCustomer struct {
	ID           string              `json:"id"`
	Email        string              `json:"email"`
	ProcessorIDs map[string][]string `json:"processor_ids"`
}

type apiGrant struct {
	ID        string     `json:"id"`
	Tier      string     `json:"tier"`
	Plan      string     `json:"plan"`
	Source    string     `json:"source"`
	SourceRef string     `json:"source_ref"`
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end"`
	Revoked   *time.Time `json:"revoked_at"`
	Active    bool       `json:"active"`
}

// handleAPIAccessByEmail answers GET /api/v1/access?email=…. An unknown
// address has no access; that is an answer, not an error.
func (s *Server) handleAPIAccessByEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		email, err := paidup.NormaliseEmail(r.URL.Query().Get("email"))
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "email: "+paidup.ErrorMessage(err))
			return
		}
		c, err := s.Store.CustomerByEmail(r.Context(), email)
		if paidup.ErrorCode(err) == paidup.ENOTFOUND {
			writeJSON(w, http.StatusOK, accessResponse{Grants: []apiGrant{}})
			return
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		s.writeAccess(w, r, c)
	})
}

// handleAPICustomerAccess answers GET /api/v1/customers/{id}/access.
func (s *Server) handleAPICustomerAccess() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Store.Customer(r.Context(), r.PathValue("id"))
		if paidup.ErrorCode(err) == paidup.ENOTFOUND {
			writeAPIError(w, http.StatusNotFound, "no such customer")
			return
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		s.writeAccess(w, r, c)
	})
}

func (s *Server) writeAccess(w http.ResponseWriter, r *http.Request, c paidup.Customer) {
	grants, err := s.Store.Grants(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	blocks, err := s.Store.Blocks(r.Context(), c.ID)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	now := s.Now()
	a := s.Policy.AccessAt(grants, blocks, now)
	resp := accessResponse{
		Customer: &apiCustomer{ID: c.ID, Email: c.Email, ProcessorIDs: c.ProcessorIDs},
		Active:   a.Active, Tier: a.Tier, Blocked: a.Blocked, Grants: []apiGrant{},
	}
	if !a.Until.IsZero() {
		resp.Until = &a.Until
	}
	for _, g := range grants {
		ag := apiGrant{ID: g.ID, Tier: g.Tier, Plan: g.PlanID, Source: g.Source, SourceRef: g.SourceRef, Start: g.Start, Active: g.ActiveAt(now)}
		if !g.End.IsZero() {
			ag.End = &g.End
		}
		if !g.Revoked.IsZero() {
			ag.Revoked = &g.Revoked
		}
		resp.Grants = append(resp.Grants, ag)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	s.Logger.Error("API request failed", "ref", requestRef(r), "path", r.URL.Path, "err", err)
	writeAPIError(w, http.StatusInternalServerError, "internal error; reference "+requestRef(r))
}

func writeAPIError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
