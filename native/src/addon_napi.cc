// SPDX-License-Identifier: Apache-2.0
// JavaScript glue: argument checks and marshalling only. Everything that can
// block runs in a named AsyncWorker that settles a promise; Execute() never
// touches JavaScript. The typed facade is native/lib/datapath.ts.
#include <malloc.h>
#include <napi.h>

#include <chrono>
#include <memory>

#include "datapath.h"
#include "dhcp_tap.h"

namespace cordon {
namespace {

using DatapathPtr = std::shared_ptr<Datapath>;

std::vector<uint8_t> BytesOf(const Napi::Value& v, const char* what) {
  if (!v.IsBuffer()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a Buffer");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

std::string StringOf(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

uint64_t NumberOf(const Napi::Object& o, const char* key, uint64_t fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0)
    throw Napi::TypeError::New(o.Env(), std::string(key) + " must be a non-negative number");
  return static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue());
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const std::vector<uint8_t>& v) {
  return Napi::Buffer<uint8_t>::Copy(env, v.data(), v.size());
}

// A promise-settling worker around one call on the datapath.
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      Run();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  virtual void Run() = 0;
  virtual Napi::Value Result() { return Env().Undefined(); }
  void OnOK() override { deferred_.Resolve(Result()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

template <typename RunFn, typename ResultFn>
class LambdaJob : public Job {
 public:
  LambdaJob(Napi::Env env, const char* name, RunFn run, ResultFn result)
      : Job(env, name), run_(std::move(run)), result_(std::move(result)) {}

 protected:
  void Run() override { run_(); }
  Napi::Value Result() override { return result_(Env()); }

 private:
  RunFn run_;
  ResultFn result_;
};

template <typename RunFn, typename ResultFn>
Napi::Value Queue(Napi::Env env, const char* name, RunFn run, ResultFn result) {
  auto* job = new LambdaJob<RunFn, ResultFn>(env, name, std::move(run), std::move(result));
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

class Handle : public Napi::ObjectWrap<Handle> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DatapathHandle",
                       {InstanceMethod("attach", &Handle::Attach), InstanceMethod("detach", &Handle::Detach),
                        InstanceMethod("applyGeneration", &Handle::ApplyGeneration),
                        InstanceMethod("readState", &Handle::ReadState), InstanceMethod("setFlags", &Handle::SetFlags),
                        InstanceMethod("dumpFlows", &Handle::DumpFlows),
                        InstanceMethod("dumpPairStats", &Handle::DumpPairStats),
                        InstanceMethod("dumpReasonStats", &Handle::DumpReasonStats),
                        InstanceMethod("readRuleStats", &Handle::ReadRuleStats),
                        InstanceMethod("countEntries", &Handle::CountEntries),
                        InstanceMethod("suppressedEvents", &Handle::SuppressedEvents),
                        InstanceMethod("linkLocalFrames", &Handle::LinkLocalFrames),
                        InstanceMethod("writeEntries", &Handle::WriteEntries),
                        InstanceMethod("deleteKeys", &Handle::DeleteKeys),
                        InstanceMethod("dumpUserMap", &Handle::DumpUserMap),
                        InstanceMethod("testRun", &Handle::TestRun), InstanceMethod("pollEvents", &Handle::PollEvents),
                        InstanceMethod("unpin", &Handle::Unpin), InstanceMethod("close", &Handle::Close),
                        InstanceAccessor("adopted", &Handle::Adopted, nullptr),
                        InstanceAccessor("pinDir", &Handle::PinDir, nullptr)});
  }

  explicit Handle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Handle>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "use open() to make a datapath handle");
    dp_ = *info[0].As<Napi::External<DatapathPtr>>().Data();
  }

 private:
  DatapathPtr Dp(Napi::Env env) {
    if (!dp_) throw Napi::Error::New(env, "datapath handle is closed");
    return dp_;
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) { return AttachOrDetach(info, true); }
  Napi::Value Detach(const Napi::CallbackInfo& info) { return AttachOrDetach(info, false); }

  Napi::Value AttachOrDetach(const Napi::CallbackInfo& info, bool attach) {
    auto dp = Dp(info.Env());
    std::string ifname = StringOf(info[0], "interface");
    bool ingress = info[1].ToBoolean();
    std::string netns = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    bool xdp = info[3].IsUndefined() ? true : info[3].ToBoolean();
    auto out = std::make_shared<std::string>();
    return Queue(
        info.Env(), attach ? "CordonAttach" : "CordonDetach",
        [=] { attach ? void(*out = dp->Attach(ifname, ingress, netns, xdp)) : dp->Detach(ifname, ingress, netns); },
        [=](Napi::Env env) { return Napi::String::New(env, *out); });
  }

  Napi::Value ApplyGeneration(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "applyGeneration takes an object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto in = std::make_shared<GenerationInput>();
    auto entries = [&](const char* key, MapEntries& e) {
      Napi::Value v = o.Get(key);
      if (!v.IsObject()) throw Napi::TypeError::New(info.Env(), std::string(key) + " must be {keys, values, count}");
      Napi::Object m = v.As<Napi::Object>();
      e.keys = BytesOf(m.Get("keys"), "keys");
      e.values = BytesOf(m.Get("values"), "values");
      e.count = NumberOf(m, "count", 0);
    };
    entries("hosts", in->hosts);
    entries("prefixes", in->prefixes);
    entries("policy", in->policy);
    entries("policyMasks", in->policy_masks);
    in->generation = NumberOf(o, "generation", 0);
    in->flags = NumberOf(o, "flags", 0);
    auto epoch = std::make_shared<uint64_t>(0);
    auto ns = std::make_shared<double>(0);
    return Queue(
        info.Env(), "CordonApplyGeneration",
        [=] {
          auto t0 = std::chrono::steady_clock::now();
          *epoch = dp->ApplyGeneration(*in);
          *ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        },
        [=](Napi::Env env) {
          Napi::Object r = Napi::Object::New(env);
          r.Set("epoch", Napi::Number::New(env, static_cast<double>(*epoch)));
          r.Set("durationNs", Napi::Number::New(env, *ns));
          return r;
        });
  }

  Napi::Value ReadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cordon_state st = Wrap(env, [&] { return Dp(env)->ReadState(); });
    Napi::Object r = Napi::Object::New(env);
    r.Set("epoch", Napi::Number::New(env, static_cast<double>(st.epoch)));
    r.Set("generation", Napi::Number::New(env, static_cast<double>(st.generation)));
    r.Set("flags", Napi::Number::New(env, st.flags));
    return r;
  }

  Napi::Value SetFlags(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t flags = info[0].As<Napi::Number>().Uint32Value();
    Wrap(env, [&] { Dp(env)->SetFlags(flags); return 0; });
    return env.Undefined();
  }

  Napi::Value DumpFlows(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    bool denied = info[0].ToBoolean();
    auto out = std::make_shared<std::vector<uint8_t>>();
    return Queue(
        info.Env(), "CordonDumpFlows", [=] { *out = dp->DumpFlows(denied); },
        [=](Napi::Env env) { return ToBuffer(env, *out); });
  }

  // Walks the pair table (a lookup per pair and CPU): on a pool thread.
  Napi::Value DumpPairStats(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    auto out = std::make_shared<std::vector<uint8_t>>();
    return Queue(
        info.Env(), "CordonDumpPairStats", [=] { *out = dp->DumpPairStats(); },
        [=](Napi::Env env) { return ToBuffer(env, *out); });
  }

  // CORDON_REASON_MAX lookups of a per-CPU array: cheap enough to stay synchronous.
  Napi::Value DumpReasonStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return ToBuffer(env, Wrap(env, [&] { return Dp(env)->DumpReasonStats(); }));
  }

  // A lookup per rule id and CPU: on a pool thread.
  Napi::Value ReadRuleStats(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "rule ids must be a Uint32Array");
    auto arr = info[0].As<Napi::Uint32Array>();
    auto ids = std::make_shared<std::vector<uint32_t>>(arr.Data(), arr.Data() + arr.ElementLength());
    auto out = std::make_shared<std::vector<uint8_t>>();
    return Queue(
        info.Env(), "CordonReadRuleStats", [=] { *out = dp->ReadRuleStats(*ids); },
        [=](Napi::Env env) { return ToBuffer(env, *out); });
  }

  // Walks every key of a map (a syscall each: ~70 ms at 20,000 flows): on a pool thread.
  Napi::Value CountEntries(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    std::string map = StringOf(info[0], "map name");
    auto n = std::make_shared<uint32_t>(0);
    return Queue(
        info.Env(), "CordonCountEntries", [=] { *n = dp->CountEntries(map); },
        [=](Napi::Env env) { return Napi::Number::New(env, *n); });
  }

  Napi::Value SuppressedEvents(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Napi::Number::New(env, static_cast<double>(Wrap(env, [&] { return Dp(env)->SuppressedEvents(); })));
  }

  Napi::Value LinkLocalFrames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cordon_counter c = Wrap(env, [&] { return Dp(env)->LinkLocalFrames(); });
    Napi::Object r = Napi::Object::New(env);
    r.Set("packets", Napi::Number::New(env, static_cast<double>(c.packets)));
    r.Set("bytes", Napi::Number::New(env, static_cast<double>(c.bytes)));
    return r;
  }

  // A few syscalls, on the caller's thread: the DNS proxy releases an answer only once they are done.
  Napi::Value WriteEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    MapEntries e;
    std::string map = StringOf(info[0], "map name");
    e.keys = BytesOf(info[1], "keys");
    e.values = BytesOf(info[2], "values");
    e.count = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    Wrap(env, [&] { Dp(env)->WriteEntries(map, e); return 0; });
    return env.Undefined();
  }

  Napi::Value DeleteKeys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string map = StringOf(info[0], "map name");
    std::vector<uint8_t> keys = BytesOf(info[1], "keys");
    return Napi::Number::New(env, Wrap(env, [&] { return Dp(env)->DeleteKeys(map, keys); }));
  }

  Napi::Value DumpUserMap(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    std::string map = StringOf(info[0], "map name");
    auto out = std::make_shared<std::vector<uint8_t>>();
    return Queue(
        info.Env(), "CordonDumpUserMap", [=] { *out = dp->DumpUserMap(map); },
        [=](Napi::Env env) { return ToBuffer(env, *out); });
  }

  Napi::Value TestRun(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    auto packet = std::make_shared<std::vector<uint8_t>>(BytesOf(info[0], "packet"));
    uint32_t repeat = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 1;
    // hook: 0 tc egress, 1 tc ingress (the default), 2 XDP
    uint32_t hook = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 1;
    if (hook > 2) throw Napi::TypeError::New(info.Env(), "test run: hook is 0 (egress), 1 (ingress) or 2 (xdp)");
    auto res = std::make_shared<TestRunResult>();
    return Queue(
        info.Env(), "CordonTestRun", [=] { *res = dp->TestRun(*packet, repeat, static_cast<Datapath::Hook>(hook)); },
        [=](Napi::Env env) {
          Napi::Object r = Napi::Object::New(env);
          r.Set("retval", Napi::Number::New(env, res->retval));
          r.Set("durationNs", Napi::Number::New(env, res->duration_ns));
          return r;
        });
  }

  Napi::Value PollEvents(const Napi::CallbackInfo& info) {
    auto dp = Dp(info.Env());
    int timeout = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 100;
    auto out = std::make_shared<std::vector<uint8_t>>();
    return Queue(
        info.Env(), "CordonPollEvents", [=] { *out = dp->PollEvents(timeout); },
        [=](Napi::Env env) { return ToBuffer(env, *out); });
  }

  Napi::Value Unpin(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Wrap(env, [&] { Dp(env)->Unpin(); return 0; });
    return env.Undefined();
  }

  // Drops this handle's reference; workers still running keep theirs.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    dp_.reset();
    return info.Env().Undefined();
  }

  Napi::Value Adopted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Dp(info.Env())->adopted()); }
  Napi::Value PinDir(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), Dp(info.Env())->pin_dir()); }

  template <typename Fn>
  static auto Wrap(Napi::Env env, Fn fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const DatapathError& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  DatapathPtr dp_;
};

Napi::FunctionReference* Handle::ctor = nullptr;

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "open takes an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  LoadOptions opts;
  opts.name = StringOf(o.Get("name"), "name");
  if (o.Get("pinRoot").IsString()) opts.pin_root = o.Get("pinRoot").As<Napi::String>().Utf8Value();
  opts.ct_timeout_tcp_s = NumberOf(o, "ctTimeoutTcpSeconds", opts.ct_timeout_tcp_s);
  opts.ct_timeout_udp_s = NumberOf(o, "ctTimeoutUdpSeconds", opts.ct_timeout_udp_s);
  opts.ct_timeout_other_s = NumberOf(o, "ctTimeoutOtherSeconds", opts.ct_timeout_other_s);
  opts.event_rate = NumberOf(o, "eventRate", opts.event_rate);
  opts.event_burst = NumberOf(o, "eventBurst", opts.event_burst);
  if (!o.Get("classifyPayload").IsUndefined()) opts.classify_payload = o.Get("classifyPayload").ToBoolean();
  if (!o.Get("deniedShortcut").IsUndefined()) opts.denied_shortcut = o.Get("deniedShortcut").ToBoolean();
  opts.flow_budget_rate = NumberOf(o, "newFlowsPerSecond", opts.flow_budget_rate);
  opts.flow_budget_burst = NumberOf(o, "newFlowBurst", opts.flow_budget_burst);
  auto made = std::make_shared<DatapathPtr>();
  return Queue(
      env, "CordonOpen", [=] { *made = std::make_shared<Datapath>(opts); },
      [=](Napi::Env env) {
        DatapathPtr copy = *made;
        auto ext = Napi::External<DatapathPtr>::New(env, &copy);
        return Handle::ctor->New({ext});
      });
}

// The DHCP tap (dhcp_tap.h): open and close on the JS thread (cheap), poll on a worker.
Napi::Value OpenDhcpTapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "openDhcpTap(ifname, netns?)");
  std::string netns = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  try {
    return Napi::Number::New(env, OpenDhcpTap(info[0].As<Napi::String>().Utf8Value(), netns));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value CloseDhcpTapJs(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) CloseDhcpTap(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value PollDhcpTapsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "pollDhcpTaps(fds, timeoutMs)");
  auto arr = info[0].As<Napi::Array>();
  std::vector<int> fds;
  for (uint32_t i = 0; i < arr.Length() && i < 256; i++) fds.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  int timeout = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 200;
  auto out = std::make_shared<std::vector<uint8_t>>();
  return Queue(
      env, "CordonPollDhcpTaps", [=] { *out = PollDhcpTaps(fds, timeout); }, [=](Napi::Env e) { return ToBuffer(e, *out); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Map dumps are tens of MB built on pool threads; from the heap glibc keeps
  // them per thread arena long after they are freed (~150 MB of enforcer RSS at
  // 100,000 flows). Past 128 KiB, allocations are mmap'd and given back on free.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  Handle::ctor = new Napi::FunctionReference(Napi::Persistent(Handle::Define(env)));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("openDhcpTap", Napi::Function::New(env, OpenDhcpTapJs));
  exports.Set("closeDhcpTap", Napi::Function::New(env, CloseDhcpTapJs));
  exports.Set("pollDhcpTaps", Napi::Function::New(env, PollDhcpTapsJs));
  Napi::Object sizes = Napi::Object::New(env);
  sizes.Set("ipcacheKey", sizeof(cordon_ipcache_key));
  sizes.Set("ipcacheValue", sizeof(cordon_ipcache_value));
  sizes.Set("policyKey", sizeof(cordon_policy_key));
  sizes.Set("policyValue", sizeof(cordon_policy_value));
  sizes.Set("hostKey", sizeof(cordon_host_key));
  sizes.Set("policyMaskKey", sizeof(cordon_policy_mask_key));
  sizes.Set("policyMask", sizeof(cordon_policy_mask));
  sizes.Set("flowKey", sizeof(cordon_flow_key));
  sizes.Set("flowValue", sizeof(cordon_flow_value));
  sizes.Set("pairKey", sizeof(cordon_pair_key));
  sizes.Set("counter", sizeof(cordon_counter));
  sizes.Set("event", sizeof(cordon_event));
  sizes.Set("state", sizeof(cordon_state));
  sizes.Set("budgetKey", sizeof(cordon_budget_key));
  sizes.Set("budgetValue", sizeof(cordon_budget_value));
  sizes.Set("fqdnValue", sizeof(cordon_fqdn_value));
  sizes.Set("dnsConfig", sizeof(cordon_dns_config));
  exports.Set("abiSizes", sizes);
  // Codes and flags of cordon.h that abi.ts mirrors (test/datapath/abi.test.ts).
  Napi::Object consts = Napi::Object::New(env);
  consts.Set("reasonFlowBudget", CORDON_REASON_FLOW_BUDGET);
  consts.Set("reasonPlaintext", CORDON_REASON_PLAINTEXT);
  consts.Set("stateFlagAuditAll", CORDON_STATE_F_AUDIT_ALL);
  consts.Set("stateFlagLinkLocalDrop", CORDON_STATE_F_LINK_LOCAL_DROP);
  consts.Set("ipcFlagAudit", CORDON_IPC_F_AUDIT);
  consts.Set("ipcFlagMac", CORDON_IPC_F_MAC);
  consts.Set("ipcFlagRouter", CORDON_IPC_F_ROUTER);
  consts.Set("maxBudgets", CORDON_MAX_BUDGETS);
  exports.Set("abiConstants", consts);
  return exports;
}

}  // namespace
}  // namespace cordon

Napi::Object InitCordon(Napi::Env env, Napi::Object exports) { return cordon::Init(env, exports); }

NODE_API_MODULE(cordon_native, InitCordon)
