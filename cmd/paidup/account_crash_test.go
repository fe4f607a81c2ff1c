package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paidup/paidup/internal/sqldb"
)

// accountSession signs the customer in as their emailed link would: a
// link is made in paidup's database and spent on the sign-in page. It
// returns the session's cookie.
func accountSession(t *testing.T, p *paidupChild, db *sqldb.DB, email string) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	hash := sha256.Sum256([]byte(token))
	// Far from expiring, whatever the sandbox's clock (paidup's business
	// clock) says.
	now := time.Now().UTC()
	if _, err := db.Write.Exec(`INSERT INTO sign_in_links (token_hash, customer_id, created_at, expires_at)
		SELECT $1, id, $2, $3 FROM customers WHERE email = $4`, hex.EncodeToString(hash[:]), now, now.AddDate(10, 0, 0), email); err != nil {
		t.Fatalf("making a sign-in link: %v", err)
	}
	resp, _ := p.request(http.MethodPost, "/account/sign-in", url.Values{"token": {token}}, http.StatusSeeOther)
	cookie, _, _ := strings.Cut(resp.Header.Get("Set-Cookie"), ";")
	if !strings.HasPrefix(cookie, "paidup_session=") {
		t.Fatalf("signing in gave no session: %q", resp.Header.Get("Set-Cookie"))
	}
	return cookie
}

func cancelOnAccountPage(t *testing.T, p *paidupChild, db *sqldb.DB, email, subID string) {
	t.Helper()
	accountPost(t, p, accountSession(t, p, db, email), "/account/cancel", subID)
}

func resumeOnAccountPage(t *testing.T, p *paidupChild, db *sqldb.DB, email, subID string) {
	t.Helper()
	accountPost(t, p, accountSession(t, p, db, email), "/account/resume", subID)
}

// accountPost presses a button of the account page; if paidup dies under
// it, it is restarted and the button pressed again, as a customer would.
func accountPost(t *testing.T, p *paidupChild, cookie, path, subID string) {
	t.Helper()
	for try := 0; ; try++ {
		p.ensureUp()
		req, err := http.NewRequest(http.MethodPost, p.shop+path, strings.NewReader(url.Values{"subscription": {subID}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		resp, err := customerClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/account?done=") {
				t.Fatalf("POST %s: status %d, location %q:\n%s", path, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			return
		}
		if !p.proc.waitExit(10*time.Second) || try >= 3 {
			t.Fatalf("POST %s: %v (paidup %s)\n%s", path, err, p.proc.state(), logTail(p.lastLog))
		}
	}
}
