package lifecycle_test

import (
	"context"

	"github.com/paidup/paidup/internal/lifecycle"
	"github.com/paidup/paidup/internal/notify"
	"github.com/paidup/paidup/internal/store"
)

// testNotifier queues lifecycle emails and dispute cases in the store as
// the outbox does.
type testNotifier struct{ *notify.Outbox }

func (n *testNotifier) QueueLifecycle(ctx context.Context, tx *store.Tx, e lifecycle.Email) error {
	_, _, err := tx.QueueEmail(ctx, store.Email{DedupeKey: "lifecycle:" + e.Key, CustomerID: e.CustomerID, Kind: e.Kind, To: e.To})
	return err
}

func (n *testNotifier) AlertDispute(ctx context.Context, tx *store.Tx, a lifecycle.DisputeAlert) error {
	return n.OpenCase(ctx, tx, store.SupportCase{DedupeKey: "dispute:" + a.Dispute.ID, CustomerID: a.CustomerID,
		PaymentID: a.Dispute.PaymentID, Kind: store.CaseDispute, Summary: "chargeback"})
}
