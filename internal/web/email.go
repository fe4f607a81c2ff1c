package web

import (
	"context"

	"github.com/paidup/paidup"
)

// MailServer is what the pages need to know of the mail server.
type MailServer interface {
	// SMTPUTF8 reports whether the server offers SMTPUTF8 (RFC 6531),
	// which an address with a non-ASCII local part needs; an error means
	// it could not be asked.
	SMTPUTF8(ctx context.Context) (bool, error)
}

// customerEmail normalises an address a customer typed and checks that
// the mail server can deliver to it. While the server cannot be asked,
// the address is taken: refusing a buyer on a guess is worse, and should
// the server turn out not to offer SMTPUTF8, the email to them fails,
// is retried, and alerts on-call like any undeliverable email.
func (s *Server) customerEmail(ctx context.Context, typed string) (string, error) {
	email, err := paidup.NormaliseEmail(typed)
	if err != nil || !paidup.NeedsSMTPUTF8(email) || s.Mail == nil {
		return email, err
	}
	ok, err := s.Mail.SMTPUTF8(ctx)
	switch {
	case err != nil:
		s.refusals.warn("smtputf8_unknown", "the mail server could not be asked whether it offers SMTPUTF8; taking the address", "err", err)
	case !ok:
		return "", paidup.ErrEmailUndeliverable
	}
	return email, nil
}
