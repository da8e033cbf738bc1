package webui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"oepc.dev/oepcos/packages/atomicfile"
)

// LoadOrCreateCert returns the box's self-signed HTTPS certificate from
// dir (tls.crt, tls.key), making one on first use, and the SHA-256
// fingerprint of its DER bytes in the colon-separated form browsers show.
// The key is written before the certificate, each atomically, so a crash
// leaves either both or a key without a certificate (remade then).
func LoadOrCreateCert(dir string, names []string, now time.Time) (tls.Certificate, string, error) {
	crtPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert, err := tls.LoadX509KeyPair(crtPath, keyPath)
	if err == nil {
		return cert, Fingerprint(cert.Certificate[0]), nil
	}
	if _, serr := os.Stat(crtPath); !errors.Is(serr, fs.ErrNotExist) {
		return cert, "", fmt.Errorf("webui: the HTTPS certificate in %s is unusable (%v); remove tls.crt and tls.key to make a new one", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cert, "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cert, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return cert, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "OEPC box", Organization: []string{"OEPC OS"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"oepc.local", "oepc", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" && !strings.ContainsAny(n, " /") && n != "oepc" {
			tmpl.DNSNames = append(tmpl.DNSNames, n, n+".local")
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return cert, "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return cert, "", err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return cert, "", err
	}
	if err := atomicfile.Write(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return cert, "", err
	}
	cert, err = tls.LoadX509KeyPair(crtPath, keyPath)
	if err != nil {
		return cert, "", err
	}
	return cert, Fingerprint(der), nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes as AB:CD:....
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
