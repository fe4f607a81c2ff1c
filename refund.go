package paidup

import "crypto/sha256"

// RefundReference is the reference a customer is given for a refund, such
// as PU-4TQ8-ZK2M: derived from the processor's refund, so that it is the
// same wherever paidup learns of the refund, and support finds it on the
// customer's timeline. The processor's refund id stays out of what
// customers read.
func RefundReference(processor, refundID string) string {
	sum := sha256.Sum256([]byte("refund:" + processor + ":" + refundID))
	var b [8]byte
	copy(b[:], sum[:])
	return formatReference(b)
}
