#include <cstdio>
#include <cstring>
#include <string>

#include "switchyard/app/commands.h"

namespace {

int usage() {
  std::fputs(
      "usage: switchyard <command> [options]\n"
      "\n"
      "commands:\n"
      "  run --config FILE          run a worker\n"
      "  check-config FILE          validate a config file and print every problem\n"
      "  migrate --config FILE      apply database migrations\n"
      "  broker [options]           run the embedded Kafka broker (development and tests)\n"
      "  provider-sim [options]     run the provider simulator (development and tests)\n"
      "  publish [options] [FILE]   publish JSONL request events to a request topic\n"
      "  tail [options]             print result events as JSONL\n"
      "  spend [options]            spend per team, model, deployment or tier from Postgres\n"
      "  pricing show MODEL         prices and context window of a model from the pricing catalog\n"
      "  simulate --config F --trace T  replay a trace under a simulated clock: cost, offline\n"
      "                             bound, SLO and deadline misses\n"
      "\n"
      "Run `switchyard <command> --help` for a command's options.\n",
      stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string command = argv[1];
  switchyard::Args args(argv + 2, argv + argc);
  if (command == "run") return switchyard::cmd_run(args);
  if (command == "check-config") return switchyard::cmd_check_config(args);
  if (command == "migrate") return switchyard::cmd_migrate(args);
  if (command == "broker") return switchyard::cmd_broker(args);
  if (command == "provider-sim") return switchyard::cmd_provider_sim(args);
  if (command == "publish") return switchyard::cmd_publish(args);
  if (command == "tail") return switchyard::cmd_tail(args);
  if (command == "spend") return switchyard::cmd_spend(args);
  if (command == "pricing") return switchyard::cmd_pricing(args);
  if (command == "simulate") return switchyard::cmd_simulate(args);
  if (command == "--help" || command == "-h" || command == "help") {
    usage();
    return 0;
  }
  std::fprintf(stderr, "switchyard: unknown command '%s'\n", command.c_str());
  return usage();
}
