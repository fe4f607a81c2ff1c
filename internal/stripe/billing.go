package stripe

import (
	"context"
	"errors"

	"github.com/paidup/paidup"
)

// TODO(billing): the Billing methods are being written; until then they
// refuse.
var errNotYet = errors.ErrUnsupported

func (c *Client) Subscription(ctx context.Context, id string) (paidup.Subscription, error) {
	return paidup.Subscription{}, errNotYet
}

func (c *Client) CancelSubscription(ctx context.Context, id string) (paidup.Subscription, error) {
	return paidup.Subscription{}, errNotYet
}

func (c *Client) ListSubscriptions(ctx context.Context, customerID string, fn func(paidup.Subscription) error) error {
	return errNotYet
}

func (c *Client) Invoice(ctx context.Context, id string) (paidup.Invoice, error) {
	return paidup.Invoice{}, errNotYet
}

func (c *Client) ListInvoices(ctx context.Context, created paidup.Created, fn func(paidup.Invoice) error) error {
	return errNotYet
}

func (c *Client) Dispute(ctx context.Context, id string) (paidup.Dispute, error) {
	return paidup.Dispute{}, errNotYet
}

func (c *Client) ListDisputes(ctx context.Context, created paidup.Created, fn func(paidup.Dispute) error) error {
	return errNotYet
}

func (c *Client) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	return "", errNotYet
}
