package operator

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpOpts are the codes authenticator apps compute by default: six
// digits, SHA-1, every 30 seconds. A code of the step before or after
// now is taken too, for a phone's clock a little off.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// newTOTP makes an operator's TOTP secret: its base32 text and the
// otpauth:// URI an authenticator app reads.
func newTOTP(issuer, email string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: email, Period: totpOpts.Period,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// totpStep is the time step whose code code is, among the steps around
// t, or false if it is none of theirs. Every step is computed and
// compared in constant time, so that the time taken says nothing about
// which matched. (totp.Validate does not say which step matched, which
// is what refusing a code used before needs.)
func totpStep(secret, code string, t time.Time) (int64, bool) {
	if len(code) != totpOpts.Digits.Length() {
		return 0, false
	}
	now := t.Unix() / int64(totpOpts.Period)
	var step int64
	found := false
	for s := now - int64(totpOpts.Skew); s <= now+int64(totpOpts.Skew); s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*int64(totpOpts.Period), 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !found {
			step, found = s, true
		}
	}
	return step, found
}
