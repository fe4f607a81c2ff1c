package paidup

import (
	"net"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Limits on an email address, in bytes: RFC 5321's 254 for the address
// as paidup sends it (the domain in ASCII), 63 for a domain's label and
// 253 for the domain; anything typed longer than maxEmailInput is refused
// before any work is done on it.
const (
	maxEmail      = 254
	maxEmailInput = 1024
	maxLabel      = 63
	maxDomain     = 253
)

var (
	errNoEmail      = Errorf(EINVALID, "Please enter your email address.")
	errEmailTooLong = Errorf(EINVALID, "That email address is too long.")
	errNotAnEmail   = Errorf(EINVALID, "That does not look like an email address. Please check it.")
	errBadDomain    = Errorf(EINVALID, "The part after the @ is not a domain name we can send email to. Please check it.")
)

// NormaliseEmail checks an email address and returns the form customers are
// matched by and email is sent to: Unicode NFC, the local part in lower
// case (mail providers ignore case in practice, and a customer who types
// Ada@ one day and ada@ the next is one customer), and the domain in ASCII
// as DNS knows it (IDNA's lookup rules: café.example and
// xn--caf-dma.example are one domain). So two spellings of one address —
// composed or decomposed accents, a domain in Unicode or in punycode —
// are one customer.
//
// Refused: addresses at an IP address ([192.0.2.1]), control, format and
// space characters (invisible, or turning text around), and anything the
// mail system could not carry. Whether the configured mail server can
// deliver to a local part outside ASCII is another question: see
// NeedsSMTPUTF8.
func NormaliseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", errNoEmail
	case len(s) > maxEmailInput:
		return "", errEmailTooLong
	case !utf8.ValidString(s):
		return "", errNotAnEmail
	}
	s = norm.NFC.String(s)
	at := strings.LastIndexByte(s, '@')
	if at >= 0 && strings.HasPrefix(s[at+1:], "[") && strings.HasSuffix(s, "]") {
		return "", ipDomain(s[at+1:])
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", errNotAnEmail
	}
	local, domain := s[:at], s[at+1:]
	if local == "" || !printable(local) {
		return "", errNotAnEmail
	}
	ascii, err := asciiDomain(domain)
	if err != nil {
		return "", err
	}
	email := norm.NFC.String(strings.ToLower(local)) + "@" + ascii
	if len(email) > maxEmail {
		return "", errEmailTooLong
	}
	return email, nil
}

// NeedsSMTPUTF8 reports whether sending to a normalised address needs the
// mail server's SMTPUTF8 extension (RFC 6531): its local part is not all
// ASCII. (Its domain always is.)
func NeedsSMTPUTF8(email string) bool {
	for i := range len(email) {
		if email[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// ErrEmailUndeliverable is the answer for an address the configured mail
// server cannot deliver to: the address needs SMTPUTF8, which the server
// does not offer.
var ErrEmailUndeliverable = Errorf(EINVALID, "Our mail server cannot deliver to an address with letters other than a to z (such as é or ж) before the @. Please use another email address.")

// printable reports whether a local part has only visible characters:
// the mail parser has already kept ASCII to what addresses allow; outside
// ASCII, letters, marks, digits, punctuation and symbols, but no control,
// format (zero-width, bidirectional), space or private-use characters.
func printable(local string) bool {
	for _, r := range local {
		if r >= utf8.RuneSelf && !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) {
			return false
		}
	}
	return true
}

// asciiDomain returns a domain as DNS knows it, in lower-case ASCII, or
// why it cannot be sent to.
func asciiDomain(domain string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", errBadDomain
	}
	if net.ParseIP(ascii) != nil {
		return "", ipDomain(ascii)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 || len(ascii) > maxDomain {
		return "", errBadDomain
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel {
			return "", errBadDomain
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", errBadDomain // no top-level domain is all digits
	}
	return ascii, nil
}

func ipDomain(domain string) error {
	return Errorf(EINVALID, "We cannot send email to an address at an IP address (%s). Please use an address with a domain name, like name@example.com.", domain)
}
