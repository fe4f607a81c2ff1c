package support

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// How a person triages a case.
const (
	TriageTake   = "take"   // the actor works on it: the other leaves it
	TriageWait   = "wait"   // answered; it waits on the customer
	TriageSnooze = "snooze" // put aside until a time
)

// Triage takes a case, marks it waiting on the customer, or snoozes it
// until until, on the customer's timeline and the audit log. Asked twice, the second
// changes nothing and changed says so.
func Triage(ctx context.Context, st *store.Store, how, caseID, actor string, until time.Time) (c paidup.SupportCase, changed bool, err error) {
	if actor == "" || len(actor) > maxActor {
		return c, false, paidup.Errorf(paidup.EINVALID, "Who triages the case is required, for the record.")
	}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		cur, err := tx.Case(ctx, caseID)
		if err != nil {
			return err
		}
		assignee, snoozed, waiting := cur.Assignee, cur.SnoozedUntil, !cur.WaitingSince.IsZero()
		var summary string
		switch how {
		case TriageTake:
			assignee, summary = actor, "Support case taken by "+actor
		case TriageWait:
			assignee, waiting, summary = cmp.Or(assignee, actor), true, "Support case waiting on the customer's answer, by "+actor
		case TriageSnooze:
			if !until.After(tx.Now()) {
				return paidup.Errorf(paidup.EINVALID, "A case is snoozed until a time to come.")
			}
			snoozed, summary = until, "Support case snoozed by "+actor+" until "+until.UTC().Format(time.RFC3339)
		default:
			return fmt.Errorf("triaging a case: no way %q", how)
		}
		if c, changed, err = tx.TriageCase(ctx, caseID, assignee, snoozed, waiting); err != nil || !changed {
			return err
		}
		if _, err := tx.AddAudit(ctx, paidup.AuditEntry{RequestID: Key(paidup.ActionTriage, caseID, how, actor, tx.Now().Format(time.RFC3339Nano)),
			At: tx.Now(), Actor: actor, Action: paidup.ActionTriage, CustomerID: c.CustomerID, Target: c.ID, Outcome: summary + ".",
			Data: map[string]string{"how": how}}); err != nil {
			return err
		}
		return tx.Append(ctx, paidup.TimelineEntry{CustomerID: c.CustomerID, Reference: c.Reference, Kind: paidup.EventSupportCase,
			Source: paidup.ByStaff, Summary: summary, Data: map[string]string{"case": c.ID, "kind": c.Kind, "actor": actor}})
	})
	return c, changed, err
}
