import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';

/**
 * HTTPS in front of a loopback test upstream, for suites that run the server in strict mode
 * (upstreams must be https there). The certificate is self-signed for one host name; the server
 * process trusts it through NODE_EXTRA_CA_CERTS.
 */

export interface Certificate {
  /** PEM file of the certificate, for NODE_EXTRA_CA_CERTS. */
  certPath: string;
  cert: string;
  key: string;
}

/** A fresh self-signed certificate for `hostname`, made with the openssl command in `dir`. */
export function makeCertificate(hostname: string, dir: string): Certificate {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '2',
        '-subj',
        `/CN=${hostname}`,
        '-addext',
        `subjectAltName=DNS:${hostname}`,
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(`this suite needs the openssl command to make a test certificate: ${String(error)}`);
  }
  return { certPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

export interface TlsFront {
  port: number;
  /** TCP connections accepted so far, counted before any TLS handshake. */
  connections: number;
  close(): Promise<void>;
}

/** Terminates TLS on a loopback port and relays each connection to `backendPort` on 127.0.0.1. */
export async function startTlsFront(backendPort: number, certificate: Certificate): Promise<TlsFront> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: certificate.key, cert: certificate.cert }, (socket) => {
    const backend = net.connect(backendPort, '127.0.0.1');
    sockets.add(backend);
    backend.on('close', () => sockets.delete(backend));
    socket.on('error', () => backend.destroy());
    backend.on('error', () => socket.destroy());
    socket.pipe(backend).pipe(socket);
  });
  const state: TlsFront = { port: 0, connections: 0, close: async () => {} };
  server.on('connection', (socket: net.Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that gives up during the handshake is not this server's problem.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
