package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/console"
	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// The on-call page says who is on call now and next; an override set
// there pages its person instead, once however often it is posted, and
// goes on the audit log; a firing alert is acknowledged with a button.
func TestOnCallPage(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		b := setup(t, engine)
		ctx := context.Background()
		log := slog.New(slog.DiscardHandler)
		eval := &oncall.Evaluator{Store: b.store, Logger: log, Rotation: oncall.Rotation{People: []string{"ada@example.com", "bob@example.com"},
			HandoffDay: time.Monday, HandoffTime: 9 * time.Hour, Location: time.UTC}}
		b.handler = console.NewServer(console.Deps{Store: b.store, Operators: b.ops, Support: b.desk, Policy: policy, Business: "Example Co", Logger: log,
			PublicURL: "https://paidup.example.com", Now: b.clock, Delays: console.NewDelays(b.clock),
			OnCall: eval, Alerts: &oncall.Acknowledger{Store: b.store, Logger: log}})
		session := b.signIn(t)
		now := eval.Rotation.At(b.clock())
		page := b.do(t, request{method: "GET", path: "/console/oncall", cookie: session}).Body.String()
		require.Contains(t, page, now.OnCall+" is on call.")
		require.Contains(t, page, "None: the rotation decides.")

		post := func(path string, form url.Values) *httpResponse {
			w := b.do(t, request{method: "POST", path: path, form: form, cookie: session})
			return &httpResponse{w.Code, w.Header().Get("Location"), w.Body.String()}
		}
		from, until := b.clock().Add(-time.Hour).Format("2006-01-02T15:04"), b.clock().Add(3*time.Hour).Format("2006-01-02T15:04")
		for _, bad := range []url.Values{
			{"request": {"rq_o1"}, "who": {hostile}, "from": {from}, "until": {until}},
			{"request": {"rq_o2"}, "who": {now.Other}, "from": {until}, "until": {from}},
			{"request": {"rq_o3"}, "who": {now.Other}, "from": {"yesterday"}, "until": {until}},
			{"who": {now.Other}, "from": {from}, "until": {until}},
		} {
			r := post("/console/oncall/overrides", bad)
			require.Equal(t, http.StatusBadRequest, r.code, r.body)
			require.NotContains(t, r.body, "<script>alert")
		}
		override := url.Values{"request": {"rq_override"}, "who": {now.Other}, "from": {from}, "until": {until}, "reason": {"at the dentist"}}
		for range 2 {
			r := post("/console/oncall/overrides", override)
			require.Equal(t, http.StatusSeeOther, r.code, r.body)
			require.Equal(t, "/console/oncall?done=rq_override#outcome", r.location)
		}
		page = b.do(t, request{method: "GET", path: "/console/oncall?done=rq_override", cookie: session}).Body.String()
		require.Contains(t, page, now.Other+" is on call.")
		require.Contains(t, page, "at the dentist")
		require.Contains(t, page, `id="outcome"`)
		set, err := b.store.OnCallOverrides(ctx, b.clock())
		require.NoError(t, err)
		require.Len(t, set, 1, "posted twice, set once")

		r := post("/console/oncall/overrides/"+set[0].ID+"/end", url.Values{"request": {"rq_end"}})
		require.Equal(t, http.StatusSeeOther, r.code, r.body)
		page = b.do(t, request{method: "GET", path: "/console/oncall", cookie: session}).Body.String()
		require.Contains(t, page, now.OnCall+" is on call.")
		r = post("/console/oncall/overrides/"+set[0].ID+"/end", url.Values{"request": {"rq_end_again"}})
		require.Equal(t, http.StatusNotFound, r.code)
		log2, err := b.store.AuditLog(ctx, "", 0, 10)
		require.NoError(t, err)
		require.Len(t, log2, 2)
		require.Equal(t, paidup.ActionEndOverride, log2[0].Action)
		require.Equal(t, paidup.ActionOverride, log2[1].Action)

		// A firing alert, acknowledged from the page.
		var alert paidup.Alert
		require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
			alert, err = tx.InsertAlert(ctx, paidup.Alert{Key: "unfulfilled", Rule: "unfulfilled", Severity: "critical", State: paidup.AlertFiring,
				Summary: "1 payment succeeded with nothing granted " + hostile, Instances: 1})
			return err
		}))
		page = b.do(t, request{method: "GET", path: "/console/oncall", cookie: session}).Body.String()
		require.Contains(t, page, `/console/oncall/alerts/`+alert.ID+`/ack`)
		requireEscaped(t, page)
		r = post("/console/oncall/alerts/"+alert.ID+"/ack", url.Values{})
		require.Equal(t, http.StatusSeeOther, r.code, r.body)
		a, err := b.store.Alert(ctx, alert.ID)
		require.NoError(t, err)
		require.Equal(t, paidup.AlertAcknowledged, a.State)
		require.Equal(t, "ada@example.com", a.AcknowledgedBy)
		require.Equal(t, http.StatusNotFound, post("/console/oncall/alerts/al_nope/ack", url.Values{}).code)
	})
}

type httpResponse struct {
	code           int
	location, body string
}
