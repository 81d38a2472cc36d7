package tls13rec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// maxSecret is the longest traffic secret: SHA-384's output.
const maxSecret = sha512.Size384

// ivLen is every TLS 1.3 AEAD's nonce length (RFC 8446, section 5.3).
const ivLen = 12

// suite is one TLS 1.3 cipher suite: its hash (for HKDF) and its AEAD.
type suite struct {
	id     uint16
	hash   func() hash.Hash
	hashed int // the hash's output length, the traffic secrets' length
	keyLen int
	aead   func(key []byte) (cipher.AEAD, error)
}

var suites = [...]suite{
	{tls.TLS_AES_128_GCM_SHA256, sha256.New, sha256.Size, 16, newGCM},
	{tls.TLS_AES_256_GCM_SHA384, sha512.New384, sha512.Size384, 32, newGCM},
	{tls.TLS_CHACHA20_POLY1305_SHA256, sha256.New, sha256.Size, chacha20poly1305.KeySize, chacha20poly1305.New},
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// suiteIndex names a suite in suites: a byte in every connection, not a
// pointer.
type suiteIndex uint8

func (i suiteIndex) get() *suite { return &suites[i] }

// suiteByID returns the suite's index, and false for one that is not TLS
// 1.3's.
func suiteByID(id uint16) (suiteIndex, bool) {
	for i := range suites {
		if suites[i].id == id {
			return suiteIndex(i), true
		}
	}
	return 0, false
}

// expandLabel is HKDF-Expand-Label (RFC 8446, section 7.1) with an empty
// context, the only one the record layer needs.
func (s *suite) expandLabel(secret []byte, label string, length int) ([]byte, error) {
	info := make([]byte, 0, 2+1+6+len(label)+1)
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0) // context<0..255>: empty
	out, err := hkdf.Expand(s.hash, secret, string(info), length)
	if err != nil {
		return nil, fmt.Errorf("tls13rec: expand %q: %w", label, err)
	}
	return out, nil
}

// trafficKeys derives a direction's AEAD and IV from its traffic secret
// (RFC 8446, section 7.3).
func (s *suite) trafficKeys(secret []byte) (*trafficKeys, error) {
	key, err := s.expandLabel(secret, "key", s.keyLen)
	if err != nil {
		return nil, err
	}
	ivb, err := s.expandLabel(secret, "iv", ivLen)
	if err != nil {
		return nil, err
	}
	k := &trafficKeys{}
	copy(k.iv[:], ivb)
	k.aead, err = s.aead(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("tls13rec: cipher: %w", err)
	}
	return k, nil
}

// nextSecret is the traffic secret after a KeyUpdate (RFC 8446, section
// 7.2), written over the current one.
func (s *suite) nextSecret(secret []byte) error {
	next, err := s.expandLabel(secret, "traffic upd", s.hashed)
	if err != nil {
		return err
	}
	copy(secret, next)
	clear(next)
	return nil
}

// nonce is iv XOR the record's sequence number, left-padded (RFC 8446,
// section 5.3): unique for every record a key protects, since a sequence
// number is never used twice with one key (it is reset only with a new
// key and never wraps).
func nonce(iv *[ivLen]byte, seq uint64) [ivLen]byte {
	n := *iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], seq)
	for i := range s {
		n[ivLen-8+i] ^= s[i]
	}
	return n
}
