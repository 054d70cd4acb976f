export type PostgresServer = {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  stop(options?: { keep?: boolean }): Promise<void>;
  kill(): Promise<void>;
};
export function postgresBinDir(): string | undefined;
export function startPostgres(options?: {
  dataDir?: string;
  port?: number;
  /** The address to listen on (default 127.0.0.1). */
  host?: string;
  /** A CIDR whose clients are trusted too (pg_hba.conf), for test hosts in network namespaces. */
  trustNetwork?: string;
}): Promise<PostgresServer>;
