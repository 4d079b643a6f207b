#!/usr/bin/python3
"""Start-up time of xmppd with many accounts, after a clean stop and after
a kill (when the server sweeps every account directory for temp files left
by an interrupted write).

    bench/startup.py ./xmppd [ACCOUNTS]

Makes a data directory with ACCOUNTS (default 10,000) copies of one
account under a temp dir, then starts the server four times, each time
timing exec to the client port accepting: a first start (no clean-stop
marker yet), a start after SIGTERM, one after SIGKILL, one after SIGTERM.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def main():
    binary = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    d = tempfile.mkdtemp(prefix='xmppd-startup-')
    try:
        run(binary, n, d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(binary, n, d):
    os.makedirs(d + '/data')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj',
                    '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
                    '-keyout', d + '/key.pem', '-out', d + '/cert.pem'],
                   capture_output=True, check=True)
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    cfg = d + '/xmppd.ini'
    with open(cfg, 'w') as f:
        f.write('[server]\ndata_path = %s/data\ninterfaces = 127.0.0.1\n'
                'c2s_ports = %d\nmodules = roster, ping, offline\n'
                '[tls]\ncertificate = %s/cert.pem\nkey = %s/key.pem\n'
                '[host localhost]\nenabled = true\n' % (d, port, d, d))
    subprocess.run([binary, '-c', cfg, 'adduser', 'user0@localhost'],
                   input=b'bench\n', check=True, capture_output=True)
    with open(d + '/data/localhost/user0/account') as f:
        account = f.read()
    for i in range(1, n):
        os.makedirs('%s/data/localhost/user%d' % (d, i))
        with open('%s/data/localhost/user%d/account' % (d, i), 'w') as f:
            f.write(account)
    how = ['first start', 'after SIGTERM', 'after SIGKILL', 'after SIGTERM']
    for k in range(4):
        t0 = time.monotonic()
        p = subprocess.Popen([binary, '-c', cfg, 'run'], stderr=subprocess.DEVNULL)
        deadline = t0 + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    p.kill()
                    raise SystemExit('the port never accepted')
                time.sleep(0.0005)
        ms = (time.monotonic() - t0) * 1000
        print('%-14s %d accounts: port accepts after %.1f ms' % (how[k], n, ms))
        if k == 1:
            p.kill()
        else:
            p.terminate()
        p.wait()


if __name__ == '__main__':
    main()
