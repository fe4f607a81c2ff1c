package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
)

// TestEventOrderDoesNotMatter is a property test: for random subscription
// histories, delivering the processor's events late, out of order and
// duplicated leads to the same final access as delivering each at once.
// Each history is run three times on fresh databases — events at once, and
// twice with random delays of up to twelve days and random duplicates — and
// the access at the end must agree.
func TestEventOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	seeds := 24
	if testing.Short() {
		seeds = 6
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed_", seed), func(t *testing.T) {
			t.Parallel()
			history := randomHistory(rand.New(rand.NewPCG(uint64(seed), 1)))
			want := replay(t, history, nil)
			for variant := range 2 {
				rng := rand.New(rand.NewPCG(uint64(seed), uint64(variant)+2))
				delays := func() []time.Duration {
					n := 1
					if rng.IntN(3) == 0 {
						n = 2 + rng.IntN(2) // duplicated
					}
					out := make([]time.Duration, n)
					for i := range out {
						out[i] = time.Duration(rng.Int64N(int64(12 * 24 * time.Hour)))
					}
					return out
				}
				got := replay(t, history, delays)
				require.Equal(t, want, got, "history:\n%s", strings.Join(history, "\n"))
			}
		})
	}
}

// replay runs a history on a fresh world and returns the access at the
// end, once every event has been delivered.
func replay(t *testing.T, history []string, delays func() []time.Duration) string {
	t.Helper()
	w := newWorld(t, sqldb.SQLite, "")
	w.delays = delays
	for i, line := range history {
		w.step(t, i+1, strings.Fields(line))
	}
	w.advance(t, 13*24*time.Hour) // every delayed event is delivered by now
	for len(w.queued) > 0 {
		w.advance(t, time.Hour) // and the retries
	}
	return w.access(t)
}

// randomHistory is a customer's subscription over a few months: renewals
// that succeed or fail, retries, cancellations, a chargeback, a permanent
// purchase. Each step is valid for the processor's state at that point.
func randomHistory(rng *rand.Rand) []string {
	h := []string{"subscribe pro-monthly"}
	var (
		failing, cancelling, ended, disputed, bought bool
		paid                                         = true
	)
	for len(h) < 14 && !ended {
		var options []string
		options = append(options, fmt.Sprintf("advance %dd", 1+rng.IntN(9)))
		switch {
		case cancelling:
			options = append(options, "resume", "lapse")
		default:
			options = append(options, "renew ok", "renew fail", "cancel end")
		}
		if failing {
			options = append(options, "retry ok", "retry fail", "ends")
		}
		if !disputed && paid {
			options = append(options, "dispute")
		}
		if !bought {
			options = append(options, "buy supporter-lifetime")
		}
		step := options[rng.IntN(len(options))]
		h = append(h, step)
		switch step {
		case "renew ok", "retry ok":
			failing, paid = false, true
		case "renew fail":
			failing = true
		case "cancel end":
			cancelling = true
		case "resume":
			cancelling = false
		case "lapse", "ends":
			ended = true
		case "dispute":
			disputed = true
		case "buy supporter-lifetime":
			bought, paid = true, true
		}
	}
	if disputed && rng.IntN(2) == 0 {
		// A person lifts the block once the dust has settled.
		h = append(h, "advance 13d", "lift")
	}
	return h
}

// lapse ends a subscription set to cancel, at its period's end, as the
// processor does.
func (w *world) lapse(t *testing.T, name string) {
	id := w.subs[name]
	sub := w.billing.sub(id)
	if gap := sub.CurrentPeriodEnd.Sub(w.clock.Now()); gap > 0 {
		w.advance(t, gap)
	}
	sub.Status, sub.EndedAt = paidup.SubscriptionCanceled, sub.CurrentPeriodEnd
	w.billing.putSub(sub)
	w.hint(t, hint{sub: id})
}
