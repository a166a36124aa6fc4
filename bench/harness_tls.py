"""A throwaway CA and server certificate for bench/harness.py --tls=on, made
with the `openssl` command line: ECDSA P-256 keys, the leaf for CN localhost
with subjectAltName DNS:localhost and IP:127.0.0.1, valid for two days.
Nobody verifies it in the bench (the relay's --outbound_tls=encrypt and
loadgen --tls take any certificate), but it is a proper chain so that a
verifying client could be pointed at ca.pem."""
import os
import shutil
import subprocess


def _openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()[-300:]}")


def make_certs(directory):
    """Writes ca.pem, ca.key, cert.pem (leaf then CA) and key.pem under
    `directory`; returns {"ca", "cert", "key"} paths. RuntimeError when
    openssl is missing or fails."""
    if shutil.which("openssl") is None:
        raise RuntimeError("--tls=on needs the openssl command (package openssl)")
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=ringpost bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-new", *ec, "-keyout", "key.pem", "-out", "leaf.csr",
             "-subj", "/CN=localhost", cwd=directory)
    with open(os.path.join(directory, "leaf.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-sha256",
             "-extfile", "leaf.ext", cwd=directory)
    with open(os.path.join(directory, "cert.pem"), "w") as out:
        for name in ("leaf.pem", "ca.pem"):
            with open(os.path.join(directory, name)) as f:
                out.write(f.read())
    return {k: os.path.join(directory, v) for k, v in
            (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"))}
