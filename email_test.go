package paidup_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paidup/paidup"
)

func TestNormaliseEmail(t *testing.T) {
	t.Parallel()
	const (
		nfc = "caf\u00e9"  // é as one code point
		nfd = "cafe\u0301" // e and a combining acute accent
	)
	tests := []struct {
		name, in, want string
	}{
		{"trimmed, lower case", "  Ada@Example.COM ", "ada@example.com"},
		{"composed local part", nfc + "@example.com", nfc + "@example.com"},
		{"decomposed local part is composed", nfd + "@example.com", nfc + "@example.com"},
		{"upper-case accented local part", "CAF\u00c9@example.com", nfc + "@example.com"},
		{"unicode domain in punycode", "ada@" + nfc + ".example", "ada@xn--caf-dma.example"},
		{"decomposed unicode domain", "ada@" + nfd + ".example", "ada@xn--caf-dma.example"},
		{"punycode domain as it is", "ada@xn--caf-dma.example", "ada@xn--caf-dma.example"},
		{"punycode domain in upper case", "ada@XN--CAF-DMA.EXAMPLE", "ada@xn--caf-dma.example"},
		{"unicode domain in upper case", "ada@CAF\u00c9.EXAMPLE", "ada@xn--caf-dma.example"},
		{"full-width domain", "ada@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25\uff0ecom", "ada@example.com"},
		{"both parts", nfd + "@" + nfd + ".example", nfc + "@xn--caf-dma.example"},
		{"non-latin", "\u0436\u0435\u043d\u044f@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "\u0436\u0435\u043d\u044f@xn--e1afmkfd.xn--p1ai"},
		{"plus and dots", "ada.l+shop@example.com", "ada.l+shop@example.com"},
		// A homoglyph domain (a Cyrillic а in "paypal") is not paypal.com:
		// it is punycoded, the same way each time it is spelled.
		{"homoglyph domain", "ada@p\u0430ypal.com", "ada@xn--pypal-4ve.com"},
		{"homoglyph domain in upper case", "ada@P\u0410YPAL.COM", "ada@xn--pypal-4ve.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := paidup.NormaliseEmail(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			again, err := paidup.NormaliseEmail(got)
			require.NoError(t, err)
			require.Equal(t, got, again, "normalising is idempotent")
		})
	}
}

func TestNormaliseEmailRefuses(t *testing.T) {
	t.Parallel()
	label := strings.Repeat("a", 64)
	tests := []struct {
		name, in, message string
	}{
		{"empty", "   ", "Please enter your email address."},
		{"no at", "ada.example.com", "does not look like an email address"},
		{"no local part", "@example.com", "does not look like an email address"},
		{"display name", "Ada <ada@example.com>", "does not look like an email address"},
		{"angle brackets", "<ada@example.com>", "does not look like an email address"},
		{"two addresses", "ada@example.com, eve@example.com", "does not look like an email address"},
		{"header injection", "ada@example.com\r\nBcc: eve@example.com", "does not look like an email address"},
		{"newline in local part", "ad\na@example.com", "does not look like an email address"},
		{"NUL", "ada\x00@example.com", "does not look like an email address"},
		{"escape", "ada\x1b[31m@example.com", "does not look like an email address"},
		{"C1 control", "ada\u0085@example.com", "does not look like an email address"},
		{"bidi override in local part", "ada\u202e@example.com", "does not look like an email address"},
		{"zero-width space in local part", "a\u200bda@example.com", "does not look like an email address"},
		{"no-break space in local part", "a\u00a0da@example.com", "does not look like an email address"},
		{"private use", "ada\ue000@example.com", "does not look like an email address"},
		{"invalid UTF-8", "ada\xff@example.com", "does not look like an email address"},
		{"bidi override in domain", "ada@\u202eexample.com", "is not a domain name"},
		{"zero-width joiner in domain", "ada@exa\u200dmple.com", "is not a domain name"},
		{"underscore in domain", "ada@my_host.example", "is not a domain name"},
		{"invalid punycode", "ada@xn--zz.example", "is not a domain name"},
		{"leading hyphen", "ada@-example.com", "is not a domain name"},
		{"no dot", "ada@localhost", "is not a domain name"},
		{"numeric top-level domain", "ada@example.123", "is not a domain name"},
		{"trailing dot", "ada@example.com.", "does not look like an email address"},
		{"label too long", "ada@" + label + ".example", "is not a domain name"},
		{"domain too long", "ada@" + strings.Repeat("a.", 127) + "com", "is not a domain name"},
		{"address too long", strings.Repeat("a", 250) + "@example.com", "too long"},
		{"input too long", strings.Repeat(" ", 2000) + "a" + strings.Repeat("\u0301", 600) + "@example.com", "too long"},
		{"IPv4 literal", "ada@[192.0.2.1]", "at an IP address ([192.0.2.1])"},
		{"IPv6 literal", "ada@[IPv6:2001:db8::1]", "at an IP address"},
		{"bare IPv4", "ada@192.0.2.1", "at an IP address (192.0.2.1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := paidup.NormaliseEmail(tt.in)
			require.Error(t, err, "got %q", got)
			require.Equal(t, paidup.EINVALID, paidup.ErrorCode(err))
			require.Contains(t, paidup.ErrorMessage(err), tt.message)
		})
	}
}

func TestNeedsSMTPUTF8(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"ada@example.com":               false,
		"ada@caf\u00e9.example":         false, // the domain is sent in ASCII
		"caf\u00e9@example.com":         true,
		"\u0436\u0435\u043d\u044f@x.ru": true,
	} {
		email, err := paidup.NormaliseEmail(in)
		require.NoError(t, err)
		require.Equal(t, want, paidup.NeedsSMTPUTF8(email), in)
	}
}
