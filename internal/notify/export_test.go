package notify

import (
	"context"

	"github.com/paidup/paidup/internal/standing"
	"github.com/paidup/paidup/internal/store"
)

// Compose renders e as it would be sent, with sample links.
func (s *Sender) Compose(e store.Email) (*Message, error) {
	l := links{signIn: s.PublicURL + "/account/sign-in?token=test"}
	if carriesCardLink(e.Kind) {
		l.card, l.cardExpires = s.PublicURL+"/card/test", s.cardLinkExpiry(e, s.now())
	}
	if e.Kind == KindCaseReply {
		l.replyURL, l.replyAddress = s.replyLinks("test")
	}
	return s.compose(context.Background(), e, l)
}

// ComposeNow renders e as it would be sent while its purchase stands as
// now says.
func (s *Sender) ComposeNow(e store.Email, now standing.Standing) (*Message, error) {
	return s.compose(context.Background(), e, links{signIn: s.PublicURL + "/account/sign-in?token=test", purchase: &now})
}
