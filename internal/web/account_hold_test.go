package web_test

import (
	"context"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
	"github.com/paidup/paidup/internal/sqldb"
	"github.com/paidup/paidup/internal/sqldb/sqldbtest"
	"github.com/paidup/paidup/internal/store"
)

// A customer on hold reads on their account page why and since when,
// what the hold keeps for them, and how to reach a person: a
// chargeback's hold names its reference, a person's the address to write
// from.
func TestAccountOnHoldSaysWhy(t *testing.T) {
	text := func(body string) string {
		body = regexp.MustCompile(`(?s)<(style|head)\b.*?</(style|head)>|<[^>]*>`).ReplaceAllString(body, " ")
		return regexp.MustCompile(`\s+`).ReplaceAllString(html.UnescapeString(body), " ")
	}
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		b := setup(t, engine)
		until := "What the hold keeps for you: Pro, until " + time.Now().UTC().AddDate(1, 0, 0).Format("2 January 2006") + ". It is not taken away"
		since := time.Now().UTC().Add(-48 * time.Hour)
		block := func(email string, dispute bool) string {
			id := b.customer(t, email)
			var ref string
			require.NoError(t, b.store.InTx(ctx, func(tx *store.Tx) error {
				blk := paidup.Block{CustomerID: id, Source: paidup.BlockStaff, Reason: "asked us to close the account", CreatedAt: since}
				if dispute {
					d, _, err := tx.RecordDispute(ctx, paidup.Dispute{Processor: "stripe", ID: "dp_" + id, PaymentID: "pi_" + id, CustomerID: id,
						Amount: paidup.Money{Amount: 24900, Currency: "usd"}, Reason: "fraudulent", Status: "needs_response", CreatedAt: since})
					if err != nil {
						return err
					}
					ref, blk.Source, blk.Reason = d.Reference, paidup.BlockDispute, "chargeback"
					_, _, err = tx.AddBlock(ctx, blk, "stripe:dp_"+id)
					return err
				}
				_, _, err := tx.AddBlock(ctx, blk, "")
				return err
			}))
			return ref
		}
		ref := block("ada@example.com", true)
		block("bea@example.com", false)

		page := text(b.do(t, "GET", "/account", nil, map[string]string{"Cookie": b.signIn(t, "ada@example.com")}).body)
		for _, want := range []string{"Your bank has told us that a payment of yours is being disputed (a chargeback)",
			"on hold, since " + since.Format("2 January 2006"), until, "we email you when the hold is lifted",
			"write to help@example.com and mention " + ref, "We answer within one business day."} {
			require.Contains(t, page, want)
		}
		require.True(t, paidup.IsReference(ref), ref)
		for _, never := range []string{"fraud", "dp_", "pi_", "from ada@example.com"} {
			require.NotContains(t, page, never)
		}

		page = text(b.do(t, "GET", "/account", nil, map[string]string{"Cookie": b.signIn(t, "bea@example.com")}).body)
		for _, want := range []string{"on hold since " + since.Format("2 January 2006") + ", while a person on our team looks into your account",
			until, "write to help@example.com from bea@example.com", "We answer within one business day."} {
			require.Contains(t, page, want)
		}
		for _, never := range []string{"chargeback", "bank", "we email you when", "mention PU-", "close the account"} {
			require.NotContains(t, page, never)
		}
		require.False(t, strings.Contains(page, "Please write to us; a person will look at it"))
	})
}
