// Package help answers the help form: someone writes "I was charged but
// have no access". paidup asks the processor about them at once and
// repairs what it can, then always answers by email — a sign-in link when
// they have access now, else a support case and an acknowledgement that a
// person will answer, and by when. The page says the same whatever the
// address: only the owner of the address learns anything.
package help

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/store"
)

// Limits on what the form takes.
const (
	MaxMessage = 2000 // runes of the message
	maxField   = 100  // runes of the reference, amount and date
)

// DefaultAnswersPerDay is how many answers one address gets a day by
// default: the form cannot be used to flood an inbox.
const DefaultAnswersPerDay = 3

// RequestArgs is a help request, as the form took it, handled by a job so
// that the page answers alike, and as fast, whatever the address.
type RequestArgs struct {
	// ID is random, one per form sent: the answer is once per request.
	ID        string `json:"id"`
	Email     string `json:"email"`
	Reference string `json:"reference,omitempty"`
	// Amount and Date are what the customer says they were charged, and
	// when: words for a person, never taken as facts.
	Amount  string `json:"amount,omitempty"`
	Date    string `json:"date,omitempty"`
	Message string `json:"message,omitempty"`
}

// Kind names the job.
func (RequestArgs) Kind() string { return "help_request" }

// InsertOpts: retried for about an hour if the database fails.
func (RequestArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 8} }

// Tidy trims what the form sent and cuts it to its limits. The email
// must be a valid address.
func (a RequestArgs) Tidy() (RequestArgs, error) {
	email, err := paidup.NormaliseEmail(a.Email)
	if err != nil {
		return a, paidup.Errorf(paidup.EINVALID, "Please enter the email address you paid with.")
	}
	a.Email = email
	a.Reference = strings.ToUpper(cut(a.Reference, maxField))
	a.Amount, a.Date, a.Message = cut(a.Amount, maxField), cut(a.Date, maxField), cut(a.Message, MaxMessage)
	return a, nil
}

// cut trims s and keeps at most n runes of it, valid UTF-8 only.
func cut(s string, n int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}

// Worker answers help requests.
type Worker struct {
	river.WorkerDefaults[RequestArgs]
	Store  *store.Store
	Policy *paidup.Policy
	Outbox *notify.Outbox
	// Recover asks the processor now about who (an email address or a
	// checkout's reference) and repairs what it finds; nil repairs
	// nothing.
	Recover func(ctx context.Context, who string) error
	// AnswersPerDay is how many answers an address gets each day (of the
	// business clock); zero: DefaultAnswersPerDay.
	AnswersPerDay int
	Logger        *slog.Logger
}

// Work repairs what it can, then answers: a sign-in link if the address
// has access now (unless the repair granted it: then the purchase's own
// confirmation answers), else a support case and an acknowledgement.
func (w *Worker) Work(ctx context.Context, job *river.Job[RequestArgs]) error {
	a := job.Args
	var before paidup.Access
	if c, err := w.Store.CustomerByEmail(ctx, a.Email); err == nil {
		if before, err = w.access(ctx, w.Store, c.ID, w.Store.Now()); err != nil {
			return err
		}
	} else if paidup.ErrorCode(err) != paidup.ENOTFOUND {
		return err
	}
	repaired := w.repair(ctx, a)
	customer, err := w.Store.CustomerByEmail(ctx, a.Email)
	known := err == nil
	if err != nil && paidup.ErrorCode(err) != paidup.ENOTFOUND {
		return err
	}
	return w.Store.InTx(ctx, func(tx *store.Tx) error {
		now := tx.Now()
		day := now.Truncate(24 * time.Hour)
		answered, err := tx.EmailsTo(ctx, customer.ID, a.Email, []string{notify.KindHelpAccess, notify.KindHelpReceived}, day)
		if err != nil {
			return err
		}
		limit := w.AnswersPerDay
		if limit <= 0 {
			limit = DefaultAnswersPerDay
		}
		access := paidup.Access{}
		if known {
			if access, err = w.access(ctx, tx, customer.ID, now); err != nil {
				return err
			}
		}
		if access.Active && !before.Active {
			// The repair granted it: its confirmation, with a sign-in
			// link, is the answer; a second email would say it again.
			return tx.Append(ctx, paidup.TimelineEntry{CustomerID: customer.ID, Reference: a.Reference, Kind: paidup.EventSupportCase,
				Source: paidup.ByCustomer, Summary: "Wrote in through the help form; the processor's payment was found and granted: " +
					describe(w.Policy, access) + "; the confirmation is the answer"})
		}
		if access.Active {
			if answered >= limit {
				w.Logger.Info("help request not answered: the address has had its answers today", "request", a.ID)
				return nil
			}
			if err := tx.Append(ctx, paidup.TimelineEntry{CustomerID: customer.ID, Reference: a.Reference, Kind: paidup.EventSupportCase,
				Source: paidup.ByCustomer, Summary: "Wrote in through the help form; has access: " + describe(w.Policy, access) + "; sent a sign-in link"}); err != nil {
				return err
			}
			_, err := w.Outbox.QueueHelp(ctx, tx, notify.Help{RequestID: a.ID, CustomerID: customer.ID, To: a.Email, Access: describe(w.Policy, access)})
			return err
		}
		c := paidup.SupportCase{DedupeKey: paidup.HelpRequestKey(a.Email, day), CustomerID: customer.ID,
			Kind: paidup.CaseHelpRequest, Summary: summary(a, access, repaired)}
		if paidup.IsReference(a.Reference) {
			c.Reference = a.Reference
		}
		if err := w.Outbox.OpenCase(ctx, tx, c); err != nil {
			return err
		}
		id, _, err := tx.CaseID(ctx, c.DedupeKey)
		if err != nil {
			return err
		}
		if answered >= limit {
			w.Logger.Info("help request not answered: the address has had its answers today", "request", a.ID, "case", id)
			return nil
		}
		_, err = w.Outbox.QueueHelp(ctx, tx, notify.Help{RequestID: a.ID, CustomerID: customer.ID, To: a.Email, Case: id})
		return err
	})
}

// accessReader reads a customer's grants and blocks: the store, or a
// transaction.
type accessReader interface {
	Grants(ctx context.Context, customerID string) ([]paidup.Grant, error)
	Blocks(ctx context.Context, customerID string) ([]paidup.Block, error)
}

// access is a customer's access at now, read through r.
func (w *Worker) access(ctx context.Context, r accessReader, customerID string, now time.Time) (paidup.Access, error) {
	grants, err := r.Grants(ctx, customerID)
	if err != nil {
		return paidup.Access{}, err
	}
	blocks, err := r.Blocks(ctx, customerID)
	if err != nil {
		return paidup.Access{}, err
	}
	return w.Policy.AccessAt(grants, blocks, now), nil
}

// repair asks the processor about the address and the reference given,
// and reports whether it could; a failure leaves the rest to a person.
func (w *Worker) repair(ctx context.Context, a RequestArgs) bool {
	if w.Recover == nil {
		return false
	}
	ok := true
	for _, who := range []string{a.Email, a.Reference} {
		if who == "" || (who == a.Reference && !paidup.IsReference(who)) {
			continue
		}
		if err := w.Recover(ctx, who); err != nil {
			ok = false
			w.Logger.Warn("a help request's repair failed; a person will look", "request", a.ID, "err", err)
		}
	}
	return ok
}

// describe says what access is, for the customer: "Pro, until 3 December
// 2027", "Pro, for good".
func describe(p *paidup.Policy, a paidup.Access) string {
	if a.Until.IsZero() {
		return p.TierName(a.Tier) + ", for good"
	}
	return p.TierName(a.Tier) + ", until " + standing.Day(a.Until)
}

// summary is the case's summary: what they wrote, quoted, and what
// paidup found. The customer's words are shown as theirs, not as facts.
func summary(a RequestArgs, access paidup.Access, repaired bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s wrote in through the help form: charged but no access", a.Email)
	var said []string
	for _, f := range []struct{ name, v string }{{"amount", a.Amount}, {"date", a.Date}, {"reference", a.Reference}} {
		if f.v != "" {
			said = append(said, f.name+" "+fmt.Sprintf("%q", f.v))
		}
	}
	if len(said) > 0 {
		b.WriteString(" (they say: " + strings.Join(said, ", ") + ")")
	}
	if a.Message != "" {
		fmt.Fprintf(&b, ": %q", a.Message)
	}
	switch {
	case access.Blocked:
		b.WriteString(". They are blocked")
	case !repaired:
		b.WriteString(". paidup could not ask the processor about them; try recovering them")
	default:
		b.WriteString(". The processor shows nothing paidup could grant for this address or reference")
	}
	return b.String() + "."
}
