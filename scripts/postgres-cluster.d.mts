export type PostgresServer = {
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  stop(options?: { keep?: boolean }): Promise<void>;
  kill(): Promise<void>;
};
export function postgresBinDir(): string | undefined;
export function startPostgres(options?: { dataDir?: string; port?: number }): Promise<PostgresServer>;
