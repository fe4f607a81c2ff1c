package support

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/store"
)

// Recover asks the processor now about a customer — their checkouts not
// settled, their payments' refunds, their subscriptions — and repairs
// what it finds by the paths webhooks and the reconciler take (see
// reconcile.Reconciler.Customer), then says what changed: "Granted Pro
// until 23 November 2027 from PU-…", or nothing to do. who is as Customer
// takes it; a person paidup has no customer for yet (a payment it never
// recorded) is found by their email address or their checkout's
// reference. If the processor cannot be asked, the error says so and
// nothing is recorded of the request: asking again is safe.
func (s *Service) Recover(ctx context.Context, r Request, who string) (Result, error) {
	if err := r.check(paidup.ActionRecover); err != nil {
		return Result{}, err
	}
	if s.Reconciler == nil {
		return Result{}, paidup.Errorf(paidup.EUNAVAILABLE, "Recovering needs the payment processor, which this paidup is not given.")
	}
	customerID, email, ref, err := s.recoverWho(ctx, who)
	if err != nil {
		return Result{}, err
	}
	if e, found, err := s.Store.Audit(ctx, r.ID); err != nil {
		return Result{}, err
	} else if found {
		return Result{Entry: e, Repeat: true}, sameRequest(e, paidup.ActionRecover, customerID)
	}
	before, err := s.snapshot(ctx, customerID)
	if err != nil {
		return Result{}, err
	}
	rec, err := s.Reconciler.Customer(ctx, customerID, email, paidup.ByStaff)
	if err != nil {
		return Result{}, fmt.Errorf("asking the processor about %s: %w; what was repaired stays repaired, and asking again is safe", who, err)
	}
	if customerID == "" {
		if c, err := s.Store.CustomerByEmail(ctx, email); err == nil {
			customerID = c.ID // the recovery recorded them
		}
	}
	after, err := s.snapshot(ctx, customerID)
	if err != nil {
		return Result{}, err
	}
	changes := s.changes(before, after)
	outcome := "Nothing to do: the processor agrees with paidup's records."
	if len(changes) > 0 {
		outcome = strings.Join(changes, "; ") + "."
	}
	if len(rec.Checked) > 0 {
		outcome += " Checkouts: " + strings.Join(rec.Checked, "; ") + "."
	}
	return s.act(ctx, r, paidup.ActionRecover, customerID, func(tx *store.Tx) (change, error) {
		if customerID == "" && ref == "" {
			return change{target: email, outcome: outcome}, nil // no customer and no checkout to write it on
		}
		return change{target: cmp.Or(ref, email), outcome: outcome},
			tx.Append(ctx, staffEntry(r, customerID, ref, paidup.EventReconciler, "Recovered against the processor by "+r.Actor+because(r.Reason)+": "+outcome, nil))
	})
}

// recoverWho finds whom to recover: a customer, or, for a person paidup
// has not recorded as one, the email address (and reference) of their
// checkout.
func (s *Service) recoverWho(ctx context.Context, who string) (customerID, email, ref string, err error) {
	c, err := s.Customer(ctx, who)
	if err == nil {
		return c.ID, c.Email, "", nil
	}
	if paidup.ErrorCode(err) != paidup.ENOTFOUND {
		return "", "", "", err
	}
	who = strings.TrimSpace(who)
	if r, ok := paidup.ParseReference(who); ok {
		a, aerr := s.Store.CheckoutAttempt(ctx, r)
		if aerr != nil {
			return "", "", "", err
		}
		return a.CustomerID, a.Email, a.Reference, nil
	}
	if strings.Contains(who, "@") {
		e, nerr := paidup.NormaliseEmail(who)
		if nerr != nil {
			return "", "", "", nerr
		}
		return "", e, "", nil
	}
	return "", "", "", err
}

// snapshot is what a recovery may change of a customer.
type snapshot struct {
	grants   []paidup.Grant
	payments []paidup.Payment
	access   paidup.Access
}

func (s *Service) snapshot(ctx context.Context, customerID string) (snapshot, error) {
	var sn snapshot
	if customerID == "" {
		return sn, nil
	}
	var err error
	if sn.grants, err = s.Store.Grants(ctx, customerID); err != nil {
		return sn, err
	}
	if sn.payments, err = s.Store.Payments(ctx, customerID); err != nil {
		return sn, err
	}
	blocks, err := s.Store.Blocks(ctx, customerID)
	if err != nil {
		return sn, err
	}
	sn.access = s.Policy.AccessAt(sn.grants, blocks, s.Store.Now())
	return sn, nil
}

// changes says what differs between two snapshots of a customer.
func (s *Service) changes(before, after snapshot) []string {
	var out []string
	refs := map[string]string{} // a payment's grant source → its reference
	was := map[string]paidup.Payment{}
	for _, p := range before.payments {
		was[p.ID] = p
	}
	for _, p := range after.payments {
		refs[p.Processor+":"+p.ID] = p.CheckoutReference
		old, known := was[p.ID]
		switch {
		case !known:
			out = append(out, fmt.Sprintf("recorded payment %s of %s", p.ID, p.Amount))
		case p.AmountRefunded != old.AmountRefunded:
			out = append(out, fmt.Sprintf("recorded payment %s as %s refunded", p.ID, paidup.Money{Amount: p.AmountRefunded, Currency: p.Amount.Currency}))
		}
	}
	had := map[string]paidup.Grant{}
	for _, g := range before.grants {
		had[g.ID] = g
	}
	for _, g := range after.grants {
		old, known := had[g.ID]
		from := ""
		if ref := refs[g.SourceRef]; ref != "" {
			from = " from " + ref
		}
		switch {
		case !known:
			out = append(out, fmt.Sprintf("granted %s%s", s.describeGrant(g), from))
		case old.Revoked.IsZero() && !g.Revoked.IsZero():
			out = append(out, fmt.Sprintf("ended %s (%s)", s.Policy.TierName(g.Tier), g.RevokeReason))
		case !old.Revoked.IsZero() && g.Revoked.IsZero():
			out = append(out, fmt.Sprintf("gave back %s", s.describeGrant(g)))
		case !old.End.Equal(g.End):
			out = append(out, fmt.Sprintf("%s now %s", s.Policy.TierName(g.Tier), strings.TrimPrefix(s.describeGrant(g), s.Policy.TierName(g.Tier)+" ")))
		}
	}
	if len(out) > 0 || before.access != after.access {
		out = append(out, fmt.Sprintf("access was %s, now %s", s.describeAccess(before.access), s.describeAccess(after.access)))
	}
	if len(out) > 0 {
		out[0] = strings.ToUpper(out[0][:1]) + out[0][1:]
	}
	return out
}
