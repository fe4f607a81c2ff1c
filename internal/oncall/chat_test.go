package oncall_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/oncall"
	"github.com/paidup/paidup/internal/oncall/oncalltest"
)

func chatJob(channel int, text string) *river.Job[oncall.ChatArgs] {
	return &river.Job[oncall.ChatArgs]{JobRow: &rivertype.JobRow{Kind: oncall.ChatArgs{}.Kind(), Attempt: 1, MaxAttempts: 12},
		Args: oncall.ChatArgs{AlertID: "al_1", Seq: 1, Channel: channel, Text: text}}
}

// Each answer a chat endpoint can give: accepted; 429, waited for as it
// says; a 5xx, retried; a refusal another try will not change (a deleted
// webhook), dropped; and the URL, a credential, never in an error.
func TestChatWorkerAnswers(t *testing.T) {
	discord, slack := oncalltest.NewChatEndpoint(t, "discord"), oncalltest.NewChatEndpoint(t, "slack")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(failing.Close)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/api/webhooks/1/secret-token"
	down.Close()
	w := &oncall.ChatWorker{Logger: slog.New(slog.DiscardHandler), Channels: []oncall.Channel{
		{Kind: oncall.Discord, URL: discord.URL()},
		{Kind: oncall.Slack, URL: slack.URL()},
		{Kind: oncall.Slack, URL: slack.URL() + "-deleted"},
		{Kind: oncall.Discord, URL: failing.URL},
		{Kind: oncall.Discord, URL: downURL},
	}}
	ctx := context.Background()

	require.NoError(t, w.Work(ctx, chatJob(0, "@everyone "+strings.Repeat("x", 3000))))
	require.NoError(t, w.Work(ctx, chatJob(1, "<!channel> & <b>")))
	require.Len(t, discord.Messages()[0], len("@everyone ")+1989+len("…"), "cut to Discord's 2,000 characters")
	require.Equal(t, "&lt;!channel&gt; &amp; &lt;b&gt;", slack.Messages()[0], "Slack's control characters escaped")

	slack.Throttle(1, "7")
	err := w.Work(ctx, chatJob(1, "again"))
	var snooze *rivertype.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	require.Equal(t, 7*time.Second, snooze.Duration)
	discord.Throttle(1, "2.5")
	require.ErrorAs(t, w.Work(ctx, chatJob(0, "again")), &snooze)
	require.Equal(t, 2500*time.Millisecond, snooze.Duration)

	var cancel *rivertype.JobCancelError
	require.ErrorAs(t, w.Work(ctx, chatJob(2, "to a deleted webhook")), &cancel)
	require.ErrorAs(t, w.Work(ctx, chatJob(9, "to a channel removed from the configuration")), &cancel)
	err = w.Work(ctx, chatJob(3, "to a failing server"))
	require.Error(t, err)
	require.False(t, errors.As(err, &cancel), "a 5xx is retried")
	err = w.Work(ctx, chatJob(4, "to nowhere"))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret-token")
	_, bad := discord.Refused()
	require.Zero(t, bad)
}
