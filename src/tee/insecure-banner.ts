const printed = new Set<string>();

/**
 * Prints, once per process and component, the warning every user of the simulated TEE must
 * see. It goes to stderr so it shows even when stdout is parsed.
 */
export function printInsecureBanner(component: string): void {
  if (printed.has(component)) return;
  printed.add(component);
  const line = "!".repeat(78);
  process.stderr.write(
    [
      line,
      `${`!! INSECURE: ${component} runs on the SIMULATED TEE backend.`.padEnd(76)} !!`,
      "!! There is no hardware isolation: keys, secrets and agent state are readable  !!",
      "!! by anyone with access to this machine, and its evidence key is public:      !!",
      "!! anyone who can reach this network's chain can get its keys. Dev/tests only. !!",
      line,
      "",
    ].join("\n"),
  );
}
