package inbound_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup/internal/inbound"
)

// What a customer wrote is kept, and the reply they quote is not, as the
// common mail clients quote it.
func TestStripQuoted(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"gmail", "Thanks, it works now!\r\n\r\nOn Tue, 3 Dec 2026 at 10:00, Example Community <reply+abc@reply.example.com> wrote:\r\n> Hello,\r\n> Your access is ready.\r\n",
			"Thanks, it works now!"},
		{"gmail, wrapped attribution", "Still nothing here.\n\nOn Tue, 3 Dec 2026 at 10:00, Example Community <\nreply+abc@reply.example.com> wrote:\n\n> Hello,\n",
			"Still nothing here."},
		{"apple mail", "Got it.\n\n> On 3 Dec 2026, at 10:00, Example Community <reply+abc@reply.example.com> wrote:\n> \n> Hello,\n", "Got it."},
		{"french", "Merci beaucoup.\n\nLe mar. 3 déc. 2026 à 10:00, Example Community <reply+abc@reply.example.com> a écrit :\n> Bonjour,\n",
			"Merci beaucoup."},
		{"spanish", "Gracias.\n\nEl mar, 3 dic 2026 a las 10:00, Example Community (<reply+abc@reply.example.com>) escribió:\n> Hola,\n", "Gracias."},
		{"german", "Danke!\n\nAm Di., 3. Dez. 2026 um 10:00 Uhr schrieb Example Community <reply+abc@reply.example.com>:\n> Hallo,\n", "Danke!"},
		{"outlook", "It is fine now.\n\n-----Original Message-----\nFrom: Example Community <reply+abc@reply.example.com>\nSent: Tuesday, December 3, 2026 10:00\n\nHello,",
			"It is fine now."},
		{"outlook web", "Works.\n\n________________________________\nFrom: Example Community <reply+abc@reply.example.com>\nSent: Tuesday\nTo: Ada\n\nHello,",
			"Works."},
		{"outlook header alone", "Sorry, it still fails.\n\nFrom: Example Community <reply+abc@reply.example.com>\nSent: Tuesday, December 3, 2026 10:00\nSubject: Your access\n\nHello,",
			"Sorry, it still fails."},
		{"quoted without a marker", "Yes please.\n\nHello,\nYour access is ready.\n\nTo answer us, reply to this email, or write here (the link keeps working): https://shop.example.com/reply/abc",
			"Yes please.\n\nHello,\nYour access is ready."},
		{"inline answers", "> Did the page say \"you're in\"?\nNo, it was blank.\n> Which card?\nVisa.", "No, it was blank.\nVisa."},
		{"words that look like a header", "From: my work address, as I said.\nThanks", "From: my work address, as I said.\nThanks"},
		{"words that begin like an attribution", "On Monday I paid $249.\nNothing since.", "On Monday I paid $249.\nNothing since."},
		{"nothing of their own", "> Hello,\n> Your access is ready.\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, inbound.StripQuoted(tt.in))
		})
	}
}

// An HTML-only answer reads as its text: blocks on their own lines,
// entities decoded, and without the quotation, scripts and styles.
func TestHTMLText(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"gmail", `<div dir="ltr">Thanks, <b>it works</b> now!<br>Ada</div><br><div class="gmail_quote"><div class="gmail_attr">On Tue wrote:</div><blockquote>Hello</blockquote></div>`,
			"Thanks, it works now!\nAda"},
		{"outlook", `<html><head><style>p{}</style></head><body><p>It&#39;s fine &amp; done.</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">From: us</div><div>Hello, your access</div></body></html>`,
			"It's fine & done."},
		{"hostile", `<p>Hi<script>alert(1)</script></p><img src=x onerror=alert(1)><p>&lt;b&gt;bold&lt;/b&gt;</p>`, "Hi\n<b>bold</b>"},
		{"broken", `<p>Unclosed <b>tags <i>everywhere`, "Unclosed tags everywhere"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, inbound.HTMLText(tt.in))
		})
	}
}

// A message is read as a mail client shows it: the sender, the subject
// and Message-ID decoded, the plain-text part (else the HTML's text) in
// UTF-8 whatever its charset and encoding, without the quoted reply or
// the attachments.
func TestReadMail(t *testing.T) {
	for _, tt := range []struct{ name, raw, text string }{
		{"multipart alternative, quoted-printable", strings.Join([]string{
			"From: =?utf-8?q?Jos=C3=A9?= <JOSE@Example.com>",
			"To: reply+abc@reply.example.com",
			"Subject: =?utf-8?q?Re:_Your_access_is_ready_=E2=9C=93?=",
			"Message-ID: <m1@mail.example.com>",
			"MIME-Version: 1.0",
			`Content-Type: multipart/alternative; boundary="b1"`,
			"",
			"--b1",
			"Content-Type: text/plain; charset=utf-8",
			"Content-Transfer-Encoding: quoted-printable",
			"",
			"Merci, =C3=A7a marche.",
			"",
			"On Tue, 3 Dec 2026 at 10:00, Example <reply+abc@reply.example.com> wrote:",
			"> Hello",
			"--b1",
			"Content-Type: text/html; charset=utf-8",
			"",
			"<p>ignored: the plain part is read</p>",
			"--b1--",
			"",
		}, "\r\n"), "Merci, ça marche."},
		{"html only, latin-1, with an attachment", strings.Join([]string{
			"From: ada@example.com",
			"Subject: Re: hello",
			"Message-ID: <m2@mail.example.com>",
			"MIME-Version: 1.0",
			`Content-Type: multipart/mixed; boundary="b2"`,
			"",
			"--b2",
			"Content-Type: text/html; charset=iso-8859-1",
			"Content-Transfer-Encoding: quoted-printable",
			"",
			"<p>Voil=E0 la capture.</p><blockquote>Hello</blockquote>",
			"--b2",
			`Content-Type: image/png; name="screen.png"`,
			"Content-Disposition: attachment; filename=\"screen.png\"",
			"Content-Transfer-Encoding: base64",
			"",
			"iVBORw0KGgo=",
			"--b2--",
			"",
		}, "\r\n"), "Voilà la capture."},
		{"plain, base64", strings.Join([]string{
			"From: ada@example.com",
			"Subject: Re: hello",
			"Content-Type: text/plain; charset=utf-8",
			"Content-Transfer-Encoding: base64",
			"",
			"SXQgd29ya3Mu",
			"",
		}, "\r\n"), "It works."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := inbound.ReadMail(strings.NewReader(tt.raw))
			require.NoError(t, err)
			require.Equal(t, tt.text, m.Text)
			require.NotEmpty(t, m.From)
		})
	}
	m, err := inbound.ReadMail(strings.NewReader("From: =?utf-8?q?Jos=C3=A9?= <JOSE@Example.com>\r\nSubject: =?utf-8?q?Re:_Your_access_is_ready_=E2=9C=93?=\r\nMessage-ID: <m1@mail.example.com>\r\n\r\nHi\r\n"))
	require.NoError(t, err)
	require.Equal(t, "JOSE@Example.com", m.From)
	require.Equal(t, "Re: Your access is ready ✓", m.Subject)
	require.Equal(t, "m1@mail.example.com", m.MessageID)

	for _, bad := range []string{"", "Subject: no sender\r\n\r\nHi\r\n", "From: not an address\r\n\r\nHi\r\n", "not a header at all"} {
		_, err := inbound.ReadMail(strings.NewReader(bad))
		require.Error(t, err, "%q", bad)
	}
}
