package oncall

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// AckLinkTTL is how long an acknowledgement link works. Each page carries a
// fresh one.
const AckLinkTTL = 7 * 24 * time.Hour

// signAck makes the token of a link that acknowledges an alert as who,
// until expires: the alert, who and the expiry, and their HMAC-SHA256
// under on call's key.
func signAck(hexKey, alertID, who string, expires time.Time) string {
	payload := alertID + "|" + who + "|" + strconv.FormatInt(expires.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(ackMAC(hexKey, payload))
}

func ackMAC(hexKey, payload string) []byte {
	key, _ := hex.DecodeString(hexKey)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("paidup oncall ack\x00" + payload))
	return m.Sum(nil)
}

// errBadLink is a link that is forged, damaged or expired: one answer for
// all, so a guesser learns nothing.
var errBadLink = paidup.Errorf(paidup.EUNAUTHORIZED, "This acknowledgement link is not valid, or has expired. Use the link in the latest page about the alert.")

// verifyAck reads a token signed under hexKey, refusing one whose
// signature does not match or that expired before now.
func verifyAck(hexKey, token string, now time.Time) (alertID, who string, err error) {
	p64, m64, ok := strings.Cut(token, ".")
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if !ok || err1 != nil || err2 != nil || hexKey == "" || !hmac.Equal(mac, ackMAC(hexKey, string(payload))) {
		return "", "", errBadLink
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 3 {
		return "", "", errBadLink
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", "", errBadLink
	}
	return parts[0], parts[1], nil
}

// Acknowledger acknowledges alerts, and serves the links in pages that do
// so. The links need no sign-in: the signed token is the permission. GET
// shows the alert and a button; only POST acknowledges, so a mail
// client's link scanner fetching the link does not.
type Acknowledger struct {
	Store *store.Store
	// Evaluator tells the chat channels who acknowledged.
	Evaluator *Evaluator
	Logger    *slog.Logger
}

// Handler serves GET and POST /oncall/ack/{token}.
func (k *Acknowledger) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oncall/ack/{token}", k.show)
	mux.HandleFunc("POST /oncall/ack/{token}", k.acknowledge)
	return http.NewCrossOriginProtection().Handler(mux)
}

func (k *Acknowledger) show(w http.ResponseWriter, r *http.Request) {
	a, who, err := k.alert(r.Context(), r.PathValue("token"))
	if err != nil {
		k.fail(w, err)
		return
	}
	render(w, http.StatusOK, ackPage{Alert: a, Who: who, Ask: a.State == paidup.AlertFiring})
}

func (k *Acknowledger) acknowledge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, who, err := k.alert(ctx, r.PathValue("token"))
	if err != nil {
		k.fail(w, err)
		return
	}
	done, err := k.Acknowledge(ctx, a.ID, who)
	if err != nil {
		k.fail(w, err)
		return
	}
	if a, err = k.Store.Alert(ctx, a.ID); err != nil {
		k.fail(w, err)
		return
	}
	render(w, http.StatusOK, ackPage{Alert: a, Who: who, Done: done})
}

// Acknowledge records that who has a firing alert in hand: its pages stop,
// and the chat channels are told. It reports whether the alert was firing;
// acknowledging twice, or a resolved alert, changes nothing.
func (k *Acknowledger) Acknowledge(ctx context.Context, alertID, who string) (bool, error) {
	var done bool
	err := k.Store.InTx(ctx, func(tx *store.Tx) error {
		// Taken in turn with the evaluators, so that an evaluation
		// does not page again with what it read before.
		if _, err := tx.LockOnCall(ctx); err != nil {
			return err
		}
		acked, ok, err := tx.AcknowledgeAlert(ctx, alertID, who)
		if done = ok; err != nil || !ok {
			return err
		}
		if _, err := tx.AddAlertNotification(ctx, paidup.AlertNotification{AlertID: alertID, Seq: acked.Notifications, Event: EventAcknowledged,
			Recipients: []string{who}, Summary: acked.Summary}); err != nil {
			return err
		}
		if k.Evaluator == nil {
			return nil
		}
		return k.Evaluator.post(ctx, tx, acked.ID, acked.Notifications, chatText(acked, EventAcknowledged, []string{who}, ""))
	})
	if done && err == nil {
		k.Logger.Info("alert acknowledged", "alert", alertID, "by", who)
	}
	return done, err
}

// alert is the alert a token acknowledges, and as whom.
func (k *Acknowledger) alert(ctx context.Context, token string) (paidup.Alert, string, error) {
	st, err := k.Store.OnCallState(ctx)
	if err != nil {
		return paidup.Alert{}, "", err
	}
	id, who, err := verifyAck(st.AckKey, token, k.Store.Now())
	if err != nil {
		return paidup.Alert{}, "", err
	}
	a, err := k.Store.Alert(ctx, id)
	return a, who, err
}

func (k *Acknowledger) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on paidup's side; try the link again in a minute."
	switch paidup.ErrorCode(err) {
	case paidup.EUNAUTHORIZED, paidup.ENOTFOUND:
		status, msg = http.StatusForbidden, errBadLink.Error()
	default:
		k.Logger.Error("acknowledging an alert", "err", err)
	}
	render(w, status, ackPage{Error: msg})
}

type ackPage struct {
	Alert paidup.Alert
	Who   string
	// Ask: the alert is firing, and the page asks to acknowledge it;
	// Done: this request acknowledged it.
	Ask, Done bool
	Error     string
}

var ackTemplate = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Error}}Link not valid{{else}}Acknowledge: {{.Alert.Summary}}{{end}} · paidup on call</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1d2330;max-width:40rem;margin:2rem auto;padding:0 1rem}
button{font:inherit;background:#1d4ed8;color:#fff;border:0;border-radius:6px;padding:.6rem 1.2rem;cursor:pointer}
button:focus{outline:3px solid #93c5fd}.muted{color:#5d6778}</style></head><body>
{{if .Error}}<h1>Link not valid</h1><p>{{.Error}}</p>{{else}}
<h1>{{.Alert.Summary}}</h1>
<p class="muted">{{.Alert.Severity}} · {{.Alert.Rule}} · since {{.Alert.FirstSeen.Format "2 Jan 2006 15:04 MST"}}</p>
{{if .Done}}<p><strong>Acknowledged by {{.Who}}.</strong> The pages stop; paidup says so when the problem clears.</p>
{{else if .Ask}}<form method="post"><p>Acknowledge as {{.Who}}: the pages stop, and the other operator knows you have it in hand.</p>
<button type="submit">Acknowledge</button></form>
{{else if eq .Alert.State "acknowledged"}}<p>Already acknowledged by {{.Alert.AcknowledgedBy}} at {{.Alert.AcknowledgedAt.Format "2 Jan 15:04 MST"}}.</p>
{{else}}<p>Resolved: the problem cleared{{if not .Alert.ResolvedAt.IsZero}} at {{.Alert.ResolvedAt.Format "2 Jan 15:04 MST"}}{{end}}.</p>{{end}}
{{end}}</body></html>
`))

func render(w http.ResponseWriter, status int, p ackPage) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The token is in the URL: no page it leads to may see it.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	ackTemplate.Execute(w, p)
}
