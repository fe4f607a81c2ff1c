package notify

import (
	"context"
	"strings"

	"github.com/paidup/paidup/internal/store"
)

// Email kinds of on call's rotation.
const (
	KindOnCallAlert  = "oncall_alert"  // to the operator on call: a critical alert fired, escalated, repeats or resolved
	KindOnCallDigest = "oncall_digest" // to every operator in the rotation: the day's warnings
)

// QueueOnCall queues an on-call email to an operator, once per dedupe key.
// Detail lines in data are separated by newlines.
func (o *Outbox) QueueOnCall(ctx context.Context, tx *store.Tx, kind, dedupeKey, to string, data map[string]string) error {
	return queue(ctx, tx, store.Email{DedupeKey: dedupeKey, Kind: kind, To: to, Data: data}, "")
}

// onCallData is what an on-call email says.
type onCallData struct {
	Business string
	// Event is firing, escalated, repeat or resolved (an alert), or
	// digest.
	Event, Severity, Rule, Summary, FirstSeen, OnCall, Advice, AckURL string
	Detail                                                            []string
	// Items are a digest's alerts, one line each.
	Items []string
}

func (s *Sender) onCall(e store.Email) onCallData {
	lines := func(k string) []string {
		if e.Data[k] == "" {
			return nil
		}
		return strings.Split(e.Data[k], "\n")
	}
	return onCallData{Business: s.Business, Event: e.Data["event"], Severity: e.Data["severity"], Rule: e.Data["rule"],
		Summary: e.Data["summary"], FirstSeen: e.Data["first_seen"], OnCall: e.Data["on_call"], Advice: e.Data["advice"],
		AckURL: e.Data["ack_url"], Detail: lines("detail"), Items: lines("items")}
}
