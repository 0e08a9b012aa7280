#pragma once
// Subcommands of the `switchyard` executable. Each takes the arguments after its name and
// returns the process exit code. main.cpp only dispatches.
#include <string>
#include <vector>

namespace switchyard {

using Args = std::vector<std::string>;

int cmd_run(const Args& args);           // the worker
int cmd_check_config(const Args& args);  // validate a config file, print every problem
int cmd_migrate(const Args& args);       // apply migrations/ in order
int cmd_broker(const Args& args);        // embedded Kafka broker (librdkafka mock cluster)
int cmd_provider_sim(const Args& args);  // provider simulator
int cmd_publish(const Args& args);       // JSONL -> request topic
int cmd_tail(const Args& args);          // results topic -> JSONL on stdout
int cmd_spend(const Args& args);         // spend per team/model/deployment/tier from Postgres
int cmd_pricing(const Args& args);       // `pricing show MODEL`: catalog prices of a model
int cmd_simulate(const Args& args);      // replay a trace under a simulated clock

}  // namespace switchyard
