/*eslint-disable block-scoped-var, id-length, no-control-regex, no-magic-numbers, no-mixed-operators, no-prototype-builtins, no-redeclare, no-shadow, no-var, sort-vars, default-case, jsdoc/require-param*/
import $protobuf from "protobufjs/minimal.js";

// berth: int64/uint64 decode as JS numbers, never Long (scripts/gen-proto.mjs).
if ($protobuf.util.Long) {
    $protobuf.util.Long = null;
    $protobuf.configure();
}

const $Reader = $protobuf.Reader, $Writer = $protobuf.Writer, $util = $protobuf.util;
const $Object = $util.global.Object, $undefined = $util.global.undefined, $Error = $util.global.Error, $RangeError = $util.global.RangeError;

const $root = $protobuf.roots["berth_cgroups"] || ($protobuf.roots["berth_cgroups"] = {});

export const io = $root.io = (() => {

    const io = {};

    io.containerd = (function() {

        const containerd = {};

        containerd.cgroups = (function() {

            const cgroups = {};

            cgroups.v1 = (function() {

                const v1 = {};

                v1.Metrics = (function() {

                    const Metrics = function (properties) {
                        this.hugetlb = [];
                        this.network = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    Metrics.prototype.hugetlb = $util.emptyArray;
                    Metrics.prototype.pids = null;
                    Metrics.prototype.cpu = null;
                    Metrics.prototype.memory = null;
                    Metrics.prototype.blkio = null;
                    Metrics.prototype.rdma = null;
                    Metrics.prototype.network = $util.emptyArray;
                    Metrics.prototype.cgroupStats = null;
                    Metrics.prototype.memoryOomControl = null;

                    Metrics.create = function(properties) {
                        return new Metrics(properties);
                    };

                    Metrics.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.hugetlb != null && message.hugetlb.length)
                            for (let i = 0; i < message.hugetlb.length; ++i)
                                $root.io.containerd.cgroups.v1.HugetlbStat.encode(message.hugetlb[i], writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.pids != null && $Object.hasOwnProperty.call(message, "pids"))
                            $root.io.containerd.cgroups.v1.PidsStat.encode(message.pids, writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.cpu != null && $Object.hasOwnProperty.call(message, "cpu"))
                            $root.io.containerd.cgroups.v1.CPUStat.encode(message.cpu, writer.uint32(26).fork(), _depth + 1).ldelim();
                        if (message.memory != null && $Object.hasOwnProperty.call(message, "memory"))
                            $root.io.containerd.cgroups.v1.MemoryStat.encode(message.memory, writer.uint32(34).fork(), _depth + 1).ldelim();
                        if (message.blkio != null && $Object.hasOwnProperty.call(message, "blkio"))
                            $root.io.containerd.cgroups.v1.BlkIOStat.encode(message.blkio, writer.uint32(42).fork(), _depth + 1).ldelim();
                        if (message.rdma != null && $Object.hasOwnProperty.call(message, "rdma"))
                            $root.io.containerd.cgroups.v1.RdmaStat.encode(message.rdma, writer.uint32(50).fork(), _depth + 1).ldelim();
                        if (message.network != null && message.network.length)
                            for (let i = 0; i < message.network.length; ++i)
                                $root.io.containerd.cgroups.v1.NetworkStat.encode(message.network[i], writer.uint32(58).fork(), _depth + 1).ldelim();
                        if (message.cgroupStats != null && $Object.hasOwnProperty.call(message, "cgroupStats"))
                            $root.io.containerd.cgroups.v1.CgroupStats.encode(message.cgroupStats, writer.uint32(66).fork(), _depth + 1).ldelim();
                        if (message.memoryOomControl != null && $Object.hasOwnProperty.call(message, "memoryOomControl"))
                            $root.io.containerd.cgroups.v1.MemoryOomControl.encode(message.memoryOomControl, writer.uint32(74).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    Metrics.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.Metrics();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.hugetlb && message.hugetlb.length))
                                        message.hugetlb = [];
                                    message.hugetlb.push($root.io.containerd.cgroups.v1.HugetlbStat.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    message.pids = $root.io.containerd.cgroups.v1.PidsStat.decode(reader, reader.size(), $undefined, _depth + 1, message.pids);
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 2)
                                        break;
                                    message.cpu = $root.io.containerd.cgroups.v1.CPUStat.decode(reader, reader.size(), $undefined, _depth + 1, message.cpu);
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 2)
                                        break;
                                    message.memory = $root.io.containerd.cgroups.v1.MemoryStat.decode(reader, reader.size(), $undefined, _depth + 1, message.memory);
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 2)
                                        break;
                                    message.blkio = $root.io.containerd.cgroups.v1.BlkIOStat.decode(reader, reader.size(), $undefined, _depth + 1, message.blkio);
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 2)
                                        break;
                                    message.rdma = $root.io.containerd.cgroups.v1.RdmaStat.decode(reader, reader.size(), $undefined, _depth + 1, message.rdma);
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.network && message.network.length))
                                        message.network = [];
                                    message.network.push($root.io.containerd.cgroups.v1.NetworkStat.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 2)
                                        break;
                                    message.cgroupStats = $root.io.containerd.cgroups.v1.CgroupStats.decode(reader, reader.size(), $undefined, _depth + 1, message.cgroupStats);
                                    continue;
                                }
                            case 9: {
                                    if (wireType !== 2)
                                        break;
                                    message.memoryOomControl = $root.io.containerd.cgroups.v1.MemoryOomControl.decode(reader, reader.size(), $undefined, _depth + 1, message.memoryOomControl);
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return Metrics;
                })();

                v1.HugetlbStat = (function() {

                    const HugetlbStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    HugetlbStat.prototype.usage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    HugetlbStat.prototype.max = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    HugetlbStat.prototype.failcnt = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    HugetlbStat.prototype.pagesize = "";

                    HugetlbStat.create = function(properties) {
                        return new HugetlbStat(properties);
                    };

                    HugetlbStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.usage != null && $Object.hasOwnProperty.call(message, "usage") && (typeof message.usage === "object" ? message.usage.low || message.usage.high : message.usage !== 0))
                            writer.uint32(8).uint64(message.usage);
                        if (message.max != null && $Object.hasOwnProperty.call(message, "max") && (typeof message.max === "object" ? message.max.low || message.max.high : message.max !== 0))
                            writer.uint32(16).uint64(message.max);
                        if (message.failcnt != null && $Object.hasOwnProperty.call(message, "failcnt") && (typeof message.failcnt === "object" ? message.failcnt.low || message.failcnt.high : message.failcnt !== 0))
                            writer.uint32(24).uint64(message.failcnt);
                        if (message.pagesize != null && $Object.hasOwnProperty.call(message, "pagesize") && message.pagesize !== "")
                            writer.uint32(34).string(message.pagesize);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    HugetlbStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.HugetlbStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.usage = value;
                                    else
                                        delete message.usage;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.max = value;
                                    else
                                        delete message.max;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.failcnt = value;
                                    else
                                        delete message.failcnt;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.pagesize = value;
                                    else
                                        delete message.pagesize;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return HugetlbStat;
                })();

                v1.PidsStat = (function() {

                    const PidsStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    PidsStat.prototype.current = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    PidsStat.prototype.limit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    PidsStat.create = function(properties) {
                        return new PidsStat(properties);
                    };

                    PidsStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.current != null && $Object.hasOwnProperty.call(message, "current") && (typeof message.current === "object" ? message.current.low || message.current.high : message.current !== 0))
                            writer.uint32(8).uint64(message.current);
                        if (message.limit != null && $Object.hasOwnProperty.call(message, "limit") && (typeof message.limit === "object" ? message.limit.low || message.limit.high : message.limit !== 0))
                            writer.uint32(16).uint64(message.limit);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    PidsStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.PidsStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.current = value;
                                    else
                                        delete message.current;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.limit = value;
                                    else
                                        delete message.limit;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return PidsStat;
                })();

                v1.CPUStat = (function() {

                    const CPUStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    CPUStat.prototype.usage = null;
                    CPUStat.prototype.throttling = null;

                    CPUStat.create = function(properties) {
                        return new CPUStat(properties);
                    };

                    CPUStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.usage != null && $Object.hasOwnProperty.call(message, "usage"))
                            $root.io.containerd.cgroups.v1.CPUUsage.encode(message.usage, writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.throttling != null && $Object.hasOwnProperty.call(message, "throttling"))
                            $root.io.containerd.cgroups.v1.Throttle.encode(message.throttling, writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    CPUStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.CPUStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    message.usage = $root.io.containerd.cgroups.v1.CPUUsage.decode(reader, reader.size(), $undefined, _depth + 1, message.usage);
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    message.throttling = $root.io.containerd.cgroups.v1.Throttle.decode(reader, reader.size(), $undefined, _depth + 1, message.throttling);
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return CPUStat;
                })();

                v1.CPUUsage = (function() {

                    const CPUUsage = function (properties) {
                        this.perCpu = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    CPUUsage.prototype.total = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUUsage.prototype.kernel = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUUsage.prototype.user = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUUsage.prototype.perCpu = $util.emptyArray;

                    CPUUsage.create = function(properties) {
                        return new CPUUsage(properties);
                    };

                    CPUUsage.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.total != null && $Object.hasOwnProperty.call(message, "total") && (typeof message.total === "object" ? message.total.low || message.total.high : message.total !== 0))
                            writer.uint32(8).uint64(message.total);
                        if (message.kernel != null && $Object.hasOwnProperty.call(message, "kernel") && (typeof message.kernel === "object" ? message.kernel.low || message.kernel.high : message.kernel !== 0))
                            writer.uint32(16).uint64(message.kernel);
                        if (message.user != null && $Object.hasOwnProperty.call(message, "user") && (typeof message.user === "object" ? message.user.low || message.user.high : message.user !== 0))
                            writer.uint32(24).uint64(message.user);
                        if (message.perCpu != null && message.perCpu.length)
                            writer.uint32(34).uint64s(message.perCpu);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    CPUUsage.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.CPUUsage();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.total = value;
                                    else
                                        delete message.total;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.kernel = value;
                                    else
                                        delete message.kernel;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.user = value;
                                    else
                                        delete message.user;
                                    continue;
                                }
                            case 4: {
                                    if (wireType === 2) {
                                        if (!(message.perCpu && message.perCpu.length))
                                            message.perCpu = [];
                                        reader.uint64s(message.perCpu);
                                        continue;
                                    }
                                    if (wireType !== 0)
                                        break;
                                    if (!(message.perCpu && message.perCpu.length))
                                        message.perCpu = [];
                                    message.perCpu.push(reader.uint64());
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return CPUUsage;
                })();

                v1.Throttle = (function() {

                    const Throttle = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    Throttle.prototype.periods = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    Throttle.prototype.throttledPeriods = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    Throttle.prototype.throttledTime = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    Throttle.create = function(properties) {
                        return new Throttle(properties);
                    };

                    Throttle.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.periods != null && $Object.hasOwnProperty.call(message, "periods") && (typeof message.periods === "object" ? message.periods.low || message.periods.high : message.periods !== 0))
                            writer.uint32(8).uint64(message.periods);
                        if (message.throttledPeriods != null && $Object.hasOwnProperty.call(message, "throttledPeriods") && (typeof message.throttledPeriods === "object" ? message.throttledPeriods.low || message.throttledPeriods.high : message.throttledPeriods !== 0))
                            writer.uint32(16).uint64(message.throttledPeriods);
                        if (message.throttledTime != null && $Object.hasOwnProperty.call(message, "throttledTime") && (typeof message.throttledTime === "object" ? message.throttledTime.low || message.throttledTime.high : message.throttledTime !== 0))
                            writer.uint32(24).uint64(message.throttledTime);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    Throttle.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.Throttle();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.periods = value;
                                    else
                                        delete message.periods;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.throttledPeriods = value;
                                    else
                                        delete message.throttledPeriods;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.throttledTime = value;
                                    else
                                        delete message.throttledTime;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return Throttle;
                })();

                v1.MemoryStat = (function() {

                    const MemoryStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    MemoryStat.prototype.cache = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.rss = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.rssHuge = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.mappedFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.dirty = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.writeback = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgPgIn = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgPgOut = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgFault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgMajFault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.inactiveAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.activeAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.inactiveFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.activeFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.unevictable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.hierarchicalMemoryLimit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.hierarchicalSwapLimit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalCache = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalRss = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalRssHuge = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalMappedFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalDirty = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalWriteback = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalPgPgIn = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalPgPgOut = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalPgFault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalPgMajFault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalInactiveAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalActiveAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalInactiveFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalActiveFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.totalUnevictable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.usage = null;
                    MemoryStat.prototype.swap = null;
                    MemoryStat.prototype.kernel = null;
                    MemoryStat.prototype.kernelTcp = null;

                    MemoryStat.create = function(properties) {
                        return new MemoryStat(properties);
                    };

                    MemoryStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.cache != null && $Object.hasOwnProperty.call(message, "cache") && (typeof message.cache === "object" ? message.cache.low || message.cache.high : message.cache !== 0))
                            writer.uint32(8).uint64(message.cache);
                        if (message.rss != null && $Object.hasOwnProperty.call(message, "rss") && (typeof message.rss === "object" ? message.rss.low || message.rss.high : message.rss !== 0))
                            writer.uint32(16).uint64(message.rss);
                        if (message.rssHuge != null && $Object.hasOwnProperty.call(message, "rssHuge") && (typeof message.rssHuge === "object" ? message.rssHuge.low || message.rssHuge.high : message.rssHuge !== 0))
                            writer.uint32(24).uint64(message.rssHuge);
                        if (message.mappedFile != null && $Object.hasOwnProperty.call(message, "mappedFile") && (typeof message.mappedFile === "object" ? message.mappedFile.low || message.mappedFile.high : message.mappedFile !== 0))
                            writer.uint32(32).uint64(message.mappedFile);
                        if (message.dirty != null && $Object.hasOwnProperty.call(message, "dirty") && (typeof message.dirty === "object" ? message.dirty.low || message.dirty.high : message.dirty !== 0))
                            writer.uint32(40).uint64(message.dirty);
                        if (message.writeback != null && $Object.hasOwnProperty.call(message, "writeback") && (typeof message.writeback === "object" ? message.writeback.low || message.writeback.high : message.writeback !== 0))
                            writer.uint32(48).uint64(message.writeback);
                        if (message.pgPgIn != null && $Object.hasOwnProperty.call(message, "pgPgIn") && (typeof message.pgPgIn === "object" ? message.pgPgIn.low || message.pgPgIn.high : message.pgPgIn !== 0))
                            writer.uint32(56).uint64(message.pgPgIn);
                        if (message.pgPgOut != null && $Object.hasOwnProperty.call(message, "pgPgOut") && (typeof message.pgPgOut === "object" ? message.pgPgOut.low || message.pgPgOut.high : message.pgPgOut !== 0))
                            writer.uint32(64).uint64(message.pgPgOut);
                        if (message.pgFault != null && $Object.hasOwnProperty.call(message, "pgFault") && (typeof message.pgFault === "object" ? message.pgFault.low || message.pgFault.high : message.pgFault !== 0))
                            writer.uint32(72).uint64(message.pgFault);
                        if (message.pgMajFault != null && $Object.hasOwnProperty.call(message, "pgMajFault") && (typeof message.pgMajFault === "object" ? message.pgMajFault.low || message.pgMajFault.high : message.pgMajFault !== 0))
                            writer.uint32(80).uint64(message.pgMajFault);
                        if (message.inactiveAnon != null && $Object.hasOwnProperty.call(message, "inactiveAnon") && (typeof message.inactiveAnon === "object" ? message.inactiveAnon.low || message.inactiveAnon.high : message.inactiveAnon !== 0))
                            writer.uint32(88).uint64(message.inactiveAnon);
                        if (message.activeAnon != null && $Object.hasOwnProperty.call(message, "activeAnon") && (typeof message.activeAnon === "object" ? message.activeAnon.low || message.activeAnon.high : message.activeAnon !== 0))
                            writer.uint32(96).uint64(message.activeAnon);
                        if (message.inactiveFile != null && $Object.hasOwnProperty.call(message, "inactiveFile") && (typeof message.inactiveFile === "object" ? message.inactiveFile.low || message.inactiveFile.high : message.inactiveFile !== 0))
                            writer.uint32(104).uint64(message.inactiveFile);
                        if (message.activeFile != null && $Object.hasOwnProperty.call(message, "activeFile") && (typeof message.activeFile === "object" ? message.activeFile.low || message.activeFile.high : message.activeFile !== 0))
                            writer.uint32(112).uint64(message.activeFile);
                        if (message.unevictable != null && $Object.hasOwnProperty.call(message, "unevictable") && (typeof message.unevictable === "object" ? message.unevictable.low || message.unevictable.high : message.unevictable !== 0))
                            writer.uint32(120).uint64(message.unevictable);
                        if (message.hierarchicalMemoryLimit != null && $Object.hasOwnProperty.call(message, "hierarchicalMemoryLimit") && (typeof message.hierarchicalMemoryLimit === "object" ? message.hierarchicalMemoryLimit.low || message.hierarchicalMemoryLimit.high : message.hierarchicalMemoryLimit !== 0))
                            writer.uint32(128).uint64(message.hierarchicalMemoryLimit);
                        if (message.hierarchicalSwapLimit != null && $Object.hasOwnProperty.call(message, "hierarchicalSwapLimit") && (typeof message.hierarchicalSwapLimit === "object" ? message.hierarchicalSwapLimit.low || message.hierarchicalSwapLimit.high : message.hierarchicalSwapLimit !== 0))
                            writer.uint32(136).uint64(message.hierarchicalSwapLimit);
                        if (message.totalCache != null && $Object.hasOwnProperty.call(message, "totalCache") && (typeof message.totalCache === "object" ? message.totalCache.low || message.totalCache.high : message.totalCache !== 0))
                            writer.uint32(144).uint64(message.totalCache);
                        if (message.totalRss != null && $Object.hasOwnProperty.call(message, "totalRss") && (typeof message.totalRss === "object" ? message.totalRss.low || message.totalRss.high : message.totalRss !== 0))
                            writer.uint32(152).uint64(message.totalRss);
                        if (message.totalRssHuge != null && $Object.hasOwnProperty.call(message, "totalRssHuge") && (typeof message.totalRssHuge === "object" ? message.totalRssHuge.low || message.totalRssHuge.high : message.totalRssHuge !== 0))
                            writer.uint32(160).uint64(message.totalRssHuge);
                        if (message.totalMappedFile != null && $Object.hasOwnProperty.call(message, "totalMappedFile") && (typeof message.totalMappedFile === "object" ? message.totalMappedFile.low || message.totalMappedFile.high : message.totalMappedFile !== 0))
                            writer.uint32(168).uint64(message.totalMappedFile);
                        if (message.totalDirty != null && $Object.hasOwnProperty.call(message, "totalDirty") && (typeof message.totalDirty === "object" ? message.totalDirty.low || message.totalDirty.high : message.totalDirty !== 0))
                            writer.uint32(176).uint64(message.totalDirty);
                        if (message.totalWriteback != null && $Object.hasOwnProperty.call(message, "totalWriteback") && (typeof message.totalWriteback === "object" ? message.totalWriteback.low || message.totalWriteback.high : message.totalWriteback !== 0))
                            writer.uint32(184).uint64(message.totalWriteback);
                        if (message.totalPgPgIn != null && $Object.hasOwnProperty.call(message, "totalPgPgIn") && (typeof message.totalPgPgIn === "object" ? message.totalPgPgIn.low || message.totalPgPgIn.high : message.totalPgPgIn !== 0))
                            writer.uint32(192).uint64(message.totalPgPgIn);
                        if (message.totalPgPgOut != null && $Object.hasOwnProperty.call(message, "totalPgPgOut") && (typeof message.totalPgPgOut === "object" ? message.totalPgPgOut.low || message.totalPgPgOut.high : message.totalPgPgOut !== 0))
                            writer.uint32(200).uint64(message.totalPgPgOut);
                        if (message.totalPgFault != null && $Object.hasOwnProperty.call(message, "totalPgFault") && (typeof message.totalPgFault === "object" ? message.totalPgFault.low || message.totalPgFault.high : message.totalPgFault !== 0))
                            writer.uint32(208).uint64(message.totalPgFault);
                        if (message.totalPgMajFault != null && $Object.hasOwnProperty.call(message, "totalPgMajFault") && (typeof message.totalPgMajFault === "object" ? message.totalPgMajFault.low || message.totalPgMajFault.high : message.totalPgMajFault !== 0))
                            writer.uint32(216).uint64(message.totalPgMajFault);
                        if (message.totalInactiveAnon != null && $Object.hasOwnProperty.call(message, "totalInactiveAnon") && (typeof message.totalInactiveAnon === "object" ? message.totalInactiveAnon.low || message.totalInactiveAnon.high : message.totalInactiveAnon !== 0))
                            writer.uint32(224).uint64(message.totalInactiveAnon);
                        if (message.totalActiveAnon != null && $Object.hasOwnProperty.call(message, "totalActiveAnon") && (typeof message.totalActiveAnon === "object" ? message.totalActiveAnon.low || message.totalActiveAnon.high : message.totalActiveAnon !== 0))
                            writer.uint32(232).uint64(message.totalActiveAnon);
                        if (message.totalInactiveFile != null && $Object.hasOwnProperty.call(message, "totalInactiveFile") && (typeof message.totalInactiveFile === "object" ? message.totalInactiveFile.low || message.totalInactiveFile.high : message.totalInactiveFile !== 0))
                            writer.uint32(240).uint64(message.totalInactiveFile);
                        if (message.totalActiveFile != null && $Object.hasOwnProperty.call(message, "totalActiveFile") && (typeof message.totalActiveFile === "object" ? message.totalActiveFile.low || message.totalActiveFile.high : message.totalActiveFile !== 0))
                            writer.uint32(248).uint64(message.totalActiveFile);
                        if (message.totalUnevictable != null && $Object.hasOwnProperty.call(message, "totalUnevictable") && (typeof message.totalUnevictable === "object" ? message.totalUnevictable.low || message.totalUnevictable.high : message.totalUnevictable !== 0))
                            writer.uint32(256).uint64(message.totalUnevictable);
                        if (message.usage != null && $Object.hasOwnProperty.call(message, "usage"))
                            $root.io.containerd.cgroups.v1.MemoryEntry.encode(message.usage, writer.uint32(266).fork(), _depth + 1).ldelim();
                        if (message.swap != null && $Object.hasOwnProperty.call(message, "swap"))
                            $root.io.containerd.cgroups.v1.MemoryEntry.encode(message.swap, writer.uint32(274).fork(), _depth + 1).ldelim();
                        if (message.kernel != null && $Object.hasOwnProperty.call(message, "kernel"))
                            $root.io.containerd.cgroups.v1.MemoryEntry.encode(message.kernel, writer.uint32(282).fork(), _depth + 1).ldelim();
                        if (message.kernelTcp != null && $Object.hasOwnProperty.call(message, "kernelTcp"))
                            $root.io.containerd.cgroups.v1.MemoryEntry.encode(message.kernelTcp, writer.uint32(290).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    MemoryStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.MemoryStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.cache = value;
                                    else
                                        delete message.cache;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rss = value;
                                    else
                                        delete message.rss;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rssHuge = value;
                                    else
                                        delete message.rssHuge;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.mappedFile = value;
                                    else
                                        delete message.mappedFile;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.dirty = value;
                                    else
                                        delete message.dirty;
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.writeback = value;
                                    else
                                        delete message.writeback;
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgPgIn = value;
                                    else
                                        delete message.pgPgIn;
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgPgOut = value;
                                    else
                                        delete message.pgPgOut;
                                    continue;
                                }
                            case 9: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgFault = value;
                                    else
                                        delete message.pgFault;
                                    continue;
                                }
                            case 10: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgMajFault = value;
                                    else
                                        delete message.pgMajFault;
                                    continue;
                                }
                            case 11: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.inactiveAnon = value;
                                    else
                                        delete message.inactiveAnon;
                                    continue;
                                }
                            case 12: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.activeAnon = value;
                                    else
                                        delete message.activeAnon;
                                    continue;
                                }
                            case 13: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.inactiveFile = value;
                                    else
                                        delete message.inactiveFile;
                                    continue;
                                }
                            case 14: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.activeFile = value;
                                    else
                                        delete message.activeFile;
                                    continue;
                                }
                            case 15: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.unevictable = value;
                                    else
                                        delete message.unevictable;
                                    continue;
                                }
                            case 16: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.hierarchicalMemoryLimit = value;
                                    else
                                        delete message.hierarchicalMemoryLimit;
                                    continue;
                                }
                            case 17: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.hierarchicalSwapLimit = value;
                                    else
                                        delete message.hierarchicalSwapLimit;
                                    continue;
                                }
                            case 18: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalCache = value;
                                    else
                                        delete message.totalCache;
                                    continue;
                                }
                            case 19: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalRss = value;
                                    else
                                        delete message.totalRss;
                                    continue;
                                }
                            case 20: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalRssHuge = value;
                                    else
                                        delete message.totalRssHuge;
                                    continue;
                                }
                            case 21: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalMappedFile = value;
                                    else
                                        delete message.totalMappedFile;
                                    continue;
                                }
                            case 22: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalDirty = value;
                                    else
                                        delete message.totalDirty;
                                    continue;
                                }
                            case 23: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalWriteback = value;
                                    else
                                        delete message.totalWriteback;
                                    continue;
                                }
                            case 24: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalPgPgIn = value;
                                    else
                                        delete message.totalPgPgIn;
                                    continue;
                                }
                            case 25: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalPgPgOut = value;
                                    else
                                        delete message.totalPgPgOut;
                                    continue;
                                }
                            case 26: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalPgFault = value;
                                    else
                                        delete message.totalPgFault;
                                    continue;
                                }
                            case 27: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalPgMajFault = value;
                                    else
                                        delete message.totalPgMajFault;
                                    continue;
                                }
                            case 28: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalInactiveAnon = value;
                                    else
                                        delete message.totalInactiveAnon;
                                    continue;
                                }
                            case 29: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalActiveAnon = value;
                                    else
                                        delete message.totalActiveAnon;
                                    continue;
                                }
                            case 30: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalInactiveFile = value;
                                    else
                                        delete message.totalInactiveFile;
                                    continue;
                                }
                            case 31: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalActiveFile = value;
                                    else
                                        delete message.totalActiveFile;
                                    continue;
                                }
                            case 32: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.totalUnevictable = value;
                                    else
                                        delete message.totalUnevictable;
                                    continue;
                                }
                            case 33: {
                                    if (wireType !== 2)
                                        break;
                                    message.usage = $root.io.containerd.cgroups.v1.MemoryEntry.decode(reader, reader.size(), $undefined, _depth + 1, message.usage);
                                    continue;
                                }
                            case 34: {
                                    if (wireType !== 2)
                                        break;
                                    message.swap = $root.io.containerd.cgroups.v1.MemoryEntry.decode(reader, reader.size(), $undefined, _depth + 1, message.swap);
                                    continue;
                                }
                            case 35: {
                                    if (wireType !== 2)
                                        break;
                                    message.kernel = $root.io.containerd.cgroups.v1.MemoryEntry.decode(reader, reader.size(), $undefined, _depth + 1, message.kernel);
                                    continue;
                                }
                            case 36: {
                                    if (wireType !== 2)
                                        break;
                                    message.kernelTcp = $root.io.containerd.cgroups.v1.MemoryEntry.decode(reader, reader.size(), $undefined, _depth + 1, message.kernelTcp);
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return MemoryStat;
                })();

                v1.MemoryEntry = (function() {

                    const MemoryEntry = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    MemoryEntry.prototype.limit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEntry.prototype.usage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEntry.prototype.max = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEntry.prototype.failcnt = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    MemoryEntry.create = function(properties) {
                        return new MemoryEntry(properties);
                    };

                    MemoryEntry.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.limit != null && $Object.hasOwnProperty.call(message, "limit") && (typeof message.limit === "object" ? message.limit.low || message.limit.high : message.limit !== 0))
                            writer.uint32(8).uint64(message.limit);
                        if (message.usage != null && $Object.hasOwnProperty.call(message, "usage") && (typeof message.usage === "object" ? message.usage.low || message.usage.high : message.usage !== 0))
                            writer.uint32(16).uint64(message.usage);
                        if (message.max != null && $Object.hasOwnProperty.call(message, "max") && (typeof message.max === "object" ? message.max.low || message.max.high : message.max !== 0))
                            writer.uint32(24).uint64(message.max);
                        if (message.failcnt != null && $Object.hasOwnProperty.call(message, "failcnt") && (typeof message.failcnt === "object" ? message.failcnt.low || message.failcnt.high : message.failcnt !== 0))
                            writer.uint32(32).uint64(message.failcnt);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    MemoryEntry.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.MemoryEntry();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.limit = value;
                                    else
                                        delete message.limit;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.usage = value;
                                    else
                                        delete message.usage;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.max = value;
                                    else
                                        delete message.max;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.failcnt = value;
                                    else
                                        delete message.failcnt;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return MemoryEntry;
                })();

                v1.MemoryOomControl = (function() {

                    const MemoryOomControl = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    MemoryOomControl.prototype.oomKillDisable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryOomControl.prototype.underOom = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryOomControl.prototype.oomKill = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    MemoryOomControl.create = function(properties) {
                        return new MemoryOomControl(properties);
                    };

                    MemoryOomControl.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.oomKillDisable != null && $Object.hasOwnProperty.call(message, "oomKillDisable") && (typeof message.oomKillDisable === "object" ? message.oomKillDisable.low || message.oomKillDisable.high : message.oomKillDisable !== 0))
                            writer.uint32(8).uint64(message.oomKillDisable);
                        if (message.underOom != null && $Object.hasOwnProperty.call(message, "underOom") && (typeof message.underOom === "object" ? message.underOom.low || message.underOom.high : message.underOom !== 0))
                            writer.uint32(16).uint64(message.underOom);
                        if (message.oomKill != null && $Object.hasOwnProperty.call(message, "oomKill") && (typeof message.oomKill === "object" ? message.oomKill.low || message.oomKill.high : message.oomKill !== 0))
                            writer.uint32(24).uint64(message.oomKill);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    MemoryOomControl.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.MemoryOomControl();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.oomKillDisable = value;
                                    else
                                        delete message.oomKillDisable;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.underOom = value;
                                    else
                                        delete message.underOom;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.oomKill = value;
                                    else
                                        delete message.oomKill;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return MemoryOomControl;
                })();

                v1.BlkIOStat = (function() {

                    const BlkIOStat = function (properties) {
                        this.ioServiceBytesRecursive = [];
                        this.ioServicedRecursive = [];
                        this.ioQueuedRecursive = [];
                        this.ioServiceTimeRecursive = [];
                        this.ioWaitTimeRecursive = [];
                        this.ioMergedRecursive = [];
                        this.ioTimeRecursive = [];
                        this.sectorsRecursive = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    BlkIOStat.prototype.ioServiceBytesRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioServicedRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioQueuedRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioServiceTimeRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioWaitTimeRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioMergedRecursive = $util.emptyArray;
                    BlkIOStat.prototype.ioTimeRecursive = $util.emptyArray;
                    BlkIOStat.prototype.sectorsRecursive = $util.emptyArray;

                    BlkIOStat.create = function(properties) {
                        return new BlkIOStat(properties);
                    };

                    BlkIOStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.ioServiceBytesRecursive != null && message.ioServiceBytesRecursive.length)
                            for (let i = 0; i < message.ioServiceBytesRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioServiceBytesRecursive[i], writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.ioServicedRecursive != null && message.ioServicedRecursive.length)
                            for (let i = 0; i < message.ioServicedRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioServicedRecursive[i], writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.ioQueuedRecursive != null && message.ioQueuedRecursive.length)
                            for (let i = 0; i < message.ioQueuedRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioQueuedRecursive[i], writer.uint32(26).fork(), _depth + 1).ldelim();
                        if (message.ioServiceTimeRecursive != null && message.ioServiceTimeRecursive.length)
                            for (let i = 0; i < message.ioServiceTimeRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioServiceTimeRecursive[i], writer.uint32(34).fork(), _depth + 1).ldelim();
                        if (message.ioWaitTimeRecursive != null && message.ioWaitTimeRecursive.length)
                            for (let i = 0; i < message.ioWaitTimeRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioWaitTimeRecursive[i], writer.uint32(42).fork(), _depth + 1).ldelim();
                        if (message.ioMergedRecursive != null && message.ioMergedRecursive.length)
                            for (let i = 0; i < message.ioMergedRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioMergedRecursive[i], writer.uint32(50).fork(), _depth + 1).ldelim();
                        if (message.ioTimeRecursive != null && message.ioTimeRecursive.length)
                            for (let i = 0; i < message.ioTimeRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.ioTimeRecursive[i], writer.uint32(58).fork(), _depth + 1).ldelim();
                        if (message.sectorsRecursive != null && message.sectorsRecursive.length)
                            for (let i = 0; i < message.sectorsRecursive.length; ++i)
                                $root.io.containerd.cgroups.v1.BlkIOEntry.encode(message.sectorsRecursive[i], writer.uint32(66).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    BlkIOStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.BlkIOStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioServiceBytesRecursive && message.ioServiceBytesRecursive.length))
                                        message.ioServiceBytesRecursive = [];
                                    message.ioServiceBytesRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioServicedRecursive && message.ioServicedRecursive.length))
                                        message.ioServicedRecursive = [];
                                    message.ioServicedRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioQueuedRecursive && message.ioQueuedRecursive.length))
                                        message.ioQueuedRecursive = [];
                                    message.ioQueuedRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioServiceTimeRecursive && message.ioServiceTimeRecursive.length))
                                        message.ioServiceTimeRecursive = [];
                                    message.ioServiceTimeRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioWaitTimeRecursive && message.ioWaitTimeRecursive.length))
                                        message.ioWaitTimeRecursive = [];
                                    message.ioWaitTimeRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioMergedRecursive && message.ioMergedRecursive.length))
                                        message.ioMergedRecursive = [];
                                    message.ioMergedRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.ioTimeRecursive && message.ioTimeRecursive.length))
                                        message.ioTimeRecursive = [];
                                    message.ioTimeRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.sectorsRecursive && message.sectorsRecursive.length))
                                        message.sectorsRecursive = [];
                                    message.sectorsRecursive.push($root.io.containerd.cgroups.v1.BlkIOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return BlkIOStat;
                })();

                v1.BlkIOEntry = (function() {

                    const BlkIOEntry = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    BlkIOEntry.prototype.op = "";
                    BlkIOEntry.prototype.device = "";
                    BlkIOEntry.prototype.major = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    BlkIOEntry.prototype.minor = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    BlkIOEntry.prototype.value = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    BlkIOEntry.create = function(properties) {
                        return new BlkIOEntry(properties);
                    };

                    BlkIOEntry.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.op != null && $Object.hasOwnProperty.call(message, "op") && message.op !== "")
                            writer.uint32(10).string(message.op);
                        if (message.device != null && $Object.hasOwnProperty.call(message, "device") && message.device !== "")
                            writer.uint32(18).string(message.device);
                        if (message.major != null && $Object.hasOwnProperty.call(message, "major") && (typeof message.major === "object" ? message.major.low || message.major.high : message.major !== 0))
                            writer.uint32(24).uint64(message.major);
                        if (message.minor != null && $Object.hasOwnProperty.call(message, "minor") && (typeof message.minor === "object" ? message.minor.low || message.minor.high : message.minor !== 0))
                            writer.uint32(32).uint64(message.minor);
                        if (message.value != null && $Object.hasOwnProperty.call(message, "value") && (typeof message.value === "object" ? message.value.low || message.value.high : message.value !== 0))
                            writer.uint32(40).uint64(message.value);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    BlkIOEntry.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.BlkIOEntry();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.op = value;
                                    else
                                        delete message.op;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.device = value;
                                    else
                                        delete message.device;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.major = value;
                                    else
                                        delete message.major;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.minor = value;
                                    else
                                        delete message.minor;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.value = value;
                                    else
                                        delete message.value;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return BlkIOEntry;
                })();

                v1.RdmaStat = (function() {

                    const RdmaStat = function (properties) {
                        this.current = [];
                        this.limit = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    RdmaStat.prototype.current = $util.emptyArray;
                    RdmaStat.prototype.limit = $util.emptyArray;

                    RdmaStat.create = function(properties) {
                        return new RdmaStat(properties);
                    };

                    RdmaStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.current != null && message.current.length)
                            for (let i = 0; i < message.current.length; ++i)
                                $root.io.containerd.cgroups.v1.RdmaEntry.encode(message.current[i], writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.limit != null && message.limit.length)
                            for (let i = 0; i < message.limit.length; ++i)
                                $root.io.containerd.cgroups.v1.RdmaEntry.encode(message.limit[i], writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    RdmaStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.RdmaStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.current && message.current.length))
                                        message.current = [];
                                    message.current.push($root.io.containerd.cgroups.v1.RdmaEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.limit && message.limit.length))
                                        message.limit = [];
                                    message.limit.push($root.io.containerd.cgroups.v1.RdmaEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return RdmaStat;
                })();

                v1.RdmaEntry = (function() {

                    const RdmaEntry = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    RdmaEntry.prototype.device = "";
                    RdmaEntry.prototype.hcaHandles = 0;
                    RdmaEntry.prototype.hcaObjects = 0;

                    RdmaEntry.create = function(properties) {
                        return new RdmaEntry(properties);
                    };

                    RdmaEntry.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.device != null && $Object.hasOwnProperty.call(message, "device") && message.device !== "")
                            writer.uint32(10).string(message.device);
                        if (message.hcaHandles != null && $Object.hasOwnProperty.call(message, "hcaHandles") && message.hcaHandles !== 0)
                            writer.uint32(16).uint32(message.hcaHandles);
                        if (message.hcaObjects != null && $Object.hasOwnProperty.call(message, "hcaObjects") && message.hcaObjects !== 0)
                            writer.uint32(24).uint32(message.hcaObjects);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    RdmaEntry.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.RdmaEntry();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.device = value;
                                    else
                                        delete message.device;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (value = reader.uint32())
                                        message.hcaHandles = value;
                                    else
                                        delete message.hcaHandles;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (value = reader.uint32())
                                        message.hcaObjects = value;
                                    else
                                        delete message.hcaObjects;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return RdmaEntry;
                })();

                v1.NetworkStat = (function() {

                    const NetworkStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    NetworkStat.prototype.name = "";
                    NetworkStat.prototype.rxBytes = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.rxPackets = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.rxErrors = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.rxDropped = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.txBytes = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.txPackets = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.txErrors = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    NetworkStat.prototype.txDropped = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    NetworkStat.create = function(properties) {
                        return new NetworkStat(properties);
                    };

                    NetworkStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.name != null && $Object.hasOwnProperty.call(message, "name") && message.name !== "")
                            writer.uint32(10).string(message.name);
                        if (message.rxBytes != null && $Object.hasOwnProperty.call(message, "rxBytes") && (typeof message.rxBytes === "object" ? message.rxBytes.low || message.rxBytes.high : message.rxBytes !== 0))
                            writer.uint32(16).uint64(message.rxBytes);
                        if (message.rxPackets != null && $Object.hasOwnProperty.call(message, "rxPackets") && (typeof message.rxPackets === "object" ? message.rxPackets.low || message.rxPackets.high : message.rxPackets !== 0))
                            writer.uint32(24).uint64(message.rxPackets);
                        if (message.rxErrors != null && $Object.hasOwnProperty.call(message, "rxErrors") && (typeof message.rxErrors === "object" ? message.rxErrors.low || message.rxErrors.high : message.rxErrors !== 0))
                            writer.uint32(32).uint64(message.rxErrors);
                        if (message.rxDropped != null && $Object.hasOwnProperty.call(message, "rxDropped") && (typeof message.rxDropped === "object" ? message.rxDropped.low || message.rxDropped.high : message.rxDropped !== 0))
                            writer.uint32(40).uint64(message.rxDropped);
                        if (message.txBytes != null && $Object.hasOwnProperty.call(message, "txBytes") && (typeof message.txBytes === "object" ? message.txBytes.low || message.txBytes.high : message.txBytes !== 0))
                            writer.uint32(48).uint64(message.txBytes);
                        if (message.txPackets != null && $Object.hasOwnProperty.call(message, "txPackets") && (typeof message.txPackets === "object" ? message.txPackets.low || message.txPackets.high : message.txPackets !== 0))
                            writer.uint32(56).uint64(message.txPackets);
                        if (message.txErrors != null && $Object.hasOwnProperty.call(message, "txErrors") && (typeof message.txErrors === "object" ? message.txErrors.low || message.txErrors.high : message.txErrors !== 0))
                            writer.uint32(64).uint64(message.txErrors);
                        if (message.txDropped != null && $Object.hasOwnProperty.call(message, "txDropped") && (typeof message.txDropped === "object" ? message.txDropped.low || message.txDropped.high : message.txDropped !== 0))
                            writer.uint32(72).uint64(message.txDropped);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    NetworkStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.NetworkStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.name = value;
                                    else
                                        delete message.name;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rxBytes = value;
                                    else
                                        delete message.rxBytes;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rxPackets = value;
                                    else
                                        delete message.rxPackets;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rxErrors = value;
                                    else
                                        delete message.rxErrors;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rxDropped = value;
                                    else
                                        delete message.rxDropped;
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.txBytes = value;
                                    else
                                        delete message.txBytes;
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.txPackets = value;
                                    else
                                        delete message.txPackets;
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.txErrors = value;
                                    else
                                        delete message.txErrors;
                                    continue;
                                }
                            case 9: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.txDropped = value;
                                    else
                                        delete message.txDropped;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return NetworkStat;
                })();

                v1.CgroupStats = (function() {

                    const CgroupStats = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    CgroupStats.prototype.nrSleeping = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CgroupStats.prototype.nrRunning = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CgroupStats.prototype.nrStopped = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CgroupStats.prototype.nrUninterruptible = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CgroupStats.prototype.nrIoWait = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    CgroupStats.create = function(properties) {
                        return new CgroupStats(properties);
                    };

                    CgroupStats.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.nrSleeping != null && $Object.hasOwnProperty.call(message, "nrSleeping") && (typeof message.nrSleeping === "object" ? message.nrSleeping.low || message.nrSleeping.high : message.nrSleeping !== 0))
                            writer.uint32(8).uint64(message.nrSleeping);
                        if (message.nrRunning != null && $Object.hasOwnProperty.call(message, "nrRunning") && (typeof message.nrRunning === "object" ? message.nrRunning.low || message.nrRunning.high : message.nrRunning !== 0))
                            writer.uint32(16).uint64(message.nrRunning);
                        if (message.nrStopped != null && $Object.hasOwnProperty.call(message, "nrStopped") && (typeof message.nrStopped === "object" ? message.nrStopped.low || message.nrStopped.high : message.nrStopped !== 0))
                            writer.uint32(24).uint64(message.nrStopped);
                        if (message.nrUninterruptible != null && $Object.hasOwnProperty.call(message, "nrUninterruptible") && (typeof message.nrUninterruptible === "object" ? message.nrUninterruptible.low || message.nrUninterruptible.high : message.nrUninterruptible !== 0))
                            writer.uint32(32).uint64(message.nrUninterruptible);
                        if (message.nrIoWait != null && $Object.hasOwnProperty.call(message, "nrIoWait") && (typeof message.nrIoWait === "object" ? message.nrIoWait.low || message.nrIoWait.high : message.nrIoWait !== 0))
                            writer.uint32(40).uint64(message.nrIoWait);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    CgroupStats.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v1.CgroupStats();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrSleeping = value;
                                    else
                                        delete message.nrSleeping;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrRunning = value;
                                    else
                                        delete message.nrRunning;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrStopped = value;
                                    else
                                        delete message.nrStopped;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrUninterruptible = value;
                                    else
                                        delete message.nrUninterruptible;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrIoWait = value;
                                    else
                                        delete message.nrIoWait;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return CgroupStats;
                })();

                return v1;
            })();

            cgroups.v2 = (function() {

                const v2 = {};

                v2.Metrics = (function() {

                    const Metrics = function (properties) {
                        this.hugetlb = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    Metrics.prototype.pids = null;
                    Metrics.prototype.cpu = null;
                    Metrics.prototype.memory = null;
                    Metrics.prototype.rdma = null;
                    Metrics.prototype.io = null;
                    Metrics.prototype.hugetlb = $util.emptyArray;
                    Metrics.prototype.memoryEvents = null;

                    Metrics.create = function(properties) {
                        return new Metrics(properties);
                    };

                    Metrics.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.pids != null && $Object.hasOwnProperty.call(message, "pids"))
                            $root.io.containerd.cgroups.v2.PidsStat.encode(message.pids, writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.cpu != null && $Object.hasOwnProperty.call(message, "cpu"))
                            $root.io.containerd.cgroups.v2.CPUStat.encode(message.cpu, writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.memory != null && $Object.hasOwnProperty.call(message, "memory"))
                            $root.io.containerd.cgroups.v2.MemoryStat.encode(message.memory, writer.uint32(34).fork(), _depth + 1).ldelim();
                        if (message.rdma != null && $Object.hasOwnProperty.call(message, "rdma"))
                            $root.io.containerd.cgroups.v2.RdmaStat.encode(message.rdma, writer.uint32(42).fork(), _depth + 1).ldelim();
                        if (message.io != null && $Object.hasOwnProperty.call(message, "io"))
                            $root.io.containerd.cgroups.v2.IOStat.encode(message.io, writer.uint32(50).fork(), _depth + 1).ldelim();
                        if (message.hugetlb != null && message.hugetlb.length)
                            for (let i = 0; i < message.hugetlb.length; ++i)
                                $root.io.containerd.cgroups.v2.HugeTlbStat.encode(message.hugetlb[i], writer.uint32(58).fork(), _depth + 1).ldelim();
                        if (message.memoryEvents != null && $Object.hasOwnProperty.call(message, "memoryEvents"))
                            $root.io.containerd.cgroups.v2.MemoryEvents.encode(message.memoryEvents, writer.uint32(66).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    Metrics.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.Metrics();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    message.pids = $root.io.containerd.cgroups.v2.PidsStat.decode(reader, reader.size(), $undefined, _depth + 1, message.pids);
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    message.cpu = $root.io.containerd.cgroups.v2.CPUStat.decode(reader, reader.size(), $undefined, _depth + 1, message.cpu);
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 2)
                                        break;
                                    message.memory = $root.io.containerd.cgroups.v2.MemoryStat.decode(reader, reader.size(), $undefined, _depth + 1, message.memory);
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 2)
                                        break;
                                    message.rdma = $root.io.containerd.cgroups.v2.RdmaStat.decode(reader, reader.size(), $undefined, _depth + 1, message.rdma);
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 2)
                                        break;
                                    message.io = $root.io.containerd.cgroups.v2.IOStat.decode(reader, reader.size(), $undefined, _depth + 1, message.io);
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.hugetlb && message.hugetlb.length))
                                        message.hugetlb = [];
                                    message.hugetlb.push($root.io.containerd.cgroups.v2.HugeTlbStat.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 2)
                                        break;
                                    message.memoryEvents = $root.io.containerd.cgroups.v2.MemoryEvents.decode(reader, reader.size(), $undefined, _depth + 1, message.memoryEvents);
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return Metrics;
                })();

                v2.PidsStat = (function() {

                    const PidsStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    PidsStat.prototype.current = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    PidsStat.prototype.limit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    PidsStat.create = function(properties) {
                        return new PidsStat(properties);
                    };

                    PidsStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.current != null && $Object.hasOwnProperty.call(message, "current") && (typeof message.current === "object" ? message.current.low || message.current.high : message.current !== 0))
                            writer.uint32(8).uint64(message.current);
                        if (message.limit != null && $Object.hasOwnProperty.call(message, "limit") && (typeof message.limit === "object" ? message.limit.low || message.limit.high : message.limit !== 0))
                            writer.uint32(16).uint64(message.limit);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    PidsStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.PidsStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.current = value;
                                    else
                                        delete message.current;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.limit = value;
                                    else
                                        delete message.limit;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return PidsStat;
                })();

                v2.CPUStat = (function() {

                    const CPUStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    CPUStat.prototype.usageUsec = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUStat.prototype.userUsec = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUStat.prototype.systemUsec = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUStat.prototype.nrPeriods = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUStat.prototype.nrThrottled = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    CPUStat.prototype.throttledUsec = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    CPUStat.create = function(properties) {
                        return new CPUStat(properties);
                    };

                    CPUStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.usageUsec != null && $Object.hasOwnProperty.call(message, "usageUsec") && (typeof message.usageUsec === "object" ? message.usageUsec.low || message.usageUsec.high : message.usageUsec !== 0))
                            writer.uint32(8).uint64(message.usageUsec);
                        if (message.userUsec != null && $Object.hasOwnProperty.call(message, "userUsec") && (typeof message.userUsec === "object" ? message.userUsec.low || message.userUsec.high : message.userUsec !== 0))
                            writer.uint32(16).uint64(message.userUsec);
                        if (message.systemUsec != null && $Object.hasOwnProperty.call(message, "systemUsec") && (typeof message.systemUsec === "object" ? message.systemUsec.low || message.systemUsec.high : message.systemUsec !== 0))
                            writer.uint32(24).uint64(message.systemUsec);
                        if (message.nrPeriods != null && $Object.hasOwnProperty.call(message, "nrPeriods") && (typeof message.nrPeriods === "object" ? message.nrPeriods.low || message.nrPeriods.high : message.nrPeriods !== 0))
                            writer.uint32(32).uint64(message.nrPeriods);
                        if (message.nrThrottled != null && $Object.hasOwnProperty.call(message, "nrThrottled") && (typeof message.nrThrottled === "object" ? message.nrThrottled.low || message.nrThrottled.high : message.nrThrottled !== 0))
                            writer.uint32(40).uint64(message.nrThrottled);
                        if (message.throttledUsec != null && $Object.hasOwnProperty.call(message, "throttledUsec") && (typeof message.throttledUsec === "object" ? message.throttledUsec.low || message.throttledUsec.high : message.throttledUsec !== 0))
                            writer.uint32(48).uint64(message.throttledUsec);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    CPUStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.CPUStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.usageUsec = value;
                                    else
                                        delete message.usageUsec;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.userUsec = value;
                                    else
                                        delete message.userUsec;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.systemUsec = value;
                                    else
                                        delete message.systemUsec;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrPeriods = value;
                                    else
                                        delete message.nrPeriods;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.nrThrottled = value;
                                    else
                                        delete message.nrThrottled;
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.throttledUsec = value;
                                    else
                                        delete message.throttledUsec;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return CPUStat;
                })();

                v2.MemoryStat = (function() {

                    const MemoryStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    MemoryStat.prototype.anon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.file = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.kernelStack = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.slab = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.sock = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.shmem = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.fileMapped = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.fileDirty = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.fileWriteback = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.anonThp = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.inactiveAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.activeAnon = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.inactiveFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.activeFile = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.unevictable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.slabReclaimable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.slabUnreclaimable = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgfault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgmajfault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.workingsetRefault = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.workingsetActivate = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.workingsetNodereclaim = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgrefill = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgscan = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgsteal = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgactivate = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pgdeactivate = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pglazyfree = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.pglazyfreed = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.thpFaultAlloc = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.thpCollapseAlloc = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.usage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.usageLimit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.swapUsage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.swapLimit = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.maxUsage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryStat.prototype.swapMaxUsage = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    MemoryStat.create = function(properties) {
                        return new MemoryStat(properties);
                    };

                    MemoryStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.anon != null && $Object.hasOwnProperty.call(message, "anon") && (typeof message.anon === "object" ? message.anon.low || message.anon.high : message.anon !== 0))
                            writer.uint32(8).uint64(message.anon);
                        if (message.file != null && $Object.hasOwnProperty.call(message, "file") && (typeof message.file === "object" ? message.file.low || message.file.high : message.file !== 0))
                            writer.uint32(16).uint64(message.file);
                        if (message.kernelStack != null && $Object.hasOwnProperty.call(message, "kernelStack") && (typeof message.kernelStack === "object" ? message.kernelStack.low || message.kernelStack.high : message.kernelStack !== 0))
                            writer.uint32(24).uint64(message.kernelStack);
                        if (message.slab != null && $Object.hasOwnProperty.call(message, "slab") && (typeof message.slab === "object" ? message.slab.low || message.slab.high : message.slab !== 0))
                            writer.uint32(32).uint64(message.slab);
                        if (message.sock != null && $Object.hasOwnProperty.call(message, "sock") && (typeof message.sock === "object" ? message.sock.low || message.sock.high : message.sock !== 0))
                            writer.uint32(40).uint64(message.sock);
                        if (message.shmem != null && $Object.hasOwnProperty.call(message, "shmem") && (typeof message.shmem === "object" ? message.shmem.low || message.shmem.high : message.shmem !== 0))
                            writer.uint32(48).uint64(message.shmem);
                        if (message.fileMapped != null && $Object.hasOwnProperty.call(message, "fileMapped") && (typeof message.fileMapped === "object" ? message.fileMapped.low || message.fileMapped.high : message.fileMapped !== 0))
                            writer.uint32(56).uint64(message.fileMapped);
                        if (message.fileDirty != null && $Object.hasOwnProperty.call(message, "fileDirty") && (typeof message.fileDirty === "object" ? message.fileDirty.low || message.fileDirty.high : message.fileDirty !== 0))
                            writer.uint32(64).uint64(message.fileDirty);
                        if (message.fileWriteback != null && $Object.hasOwnProperty.call(message, "fileWriteback") && (typeof message.fileWriteback === "object" ? message.fileWriteback.low || message.fileWriteback.high : message.fileWriteback !== 0))
                            writer.uint32(72).uint64(message.fileWriteback);
                        if (message.anonThp != null && $Object.hasOwnProperty.call(message, "anonThp") && (typeof message.anonThp === "object" ? message.anonThp.low || message.anonThp.high : message.anonThp !== 0))
                            writer.uint32(80).uint64(message.anonThp);
                        if (message.inactiveAnon != null && $Object.hasOwnProperty.call(message, "inactiveAnon") && (typeof message.inactiveAnon === "object" ? message.inactiveAnon.low || message.inactiveAnon.high : message.inactiveAnon !== 0))
                            writer.uint32(88).uint64(message.inactiveAnon);
                        if (message.activeAnon != null && $Object.hasOwnProperty.call(message, "activeAnon") && (typeof message.activeAnon === "object" ? message.activeAnon.low || message.activeAnon.high : message.activeAnon !== 0))
                            writer.uint32(96).uint64(message.activeAnon);
                        if (message.inactiveFile != null && $Object.hasOwnProperty.call(message, "inactiveFile") && (typeof message.inactiveFile === "object" ? message.inactiveFile.low || message.inactiveFile.high : message.inactiveFile !== 0))
                            writer.uint32(104).uint64(message.inactiveFile);
                        if (message.activeFile != null && $Object.hasOwnProperty.call(message, "activeFile") && (typeof message.activeFile === "object" ? message.activeFile.low || message.activeFile.high : message.activeFile !== 0))
                            writer.uint32(112).uint64(message.activeFile);
                        if (message.unevictable != null && $Object.hasOwnProperty.call(message, "unevictable") && (typeof message.unevictable === "object" ? message.unevictable.low || message.unevictable.high : message.unevictable !== 0))
                            writer.uint32(120).uint64(message.unevictable);
                        if (message.slabReclaimable != null && $Object.hasOwnProperty.call(message, "slabReclaimable") && (typeof message.slabReclaimable === "object" ? message.slabReclaimable.low || message.slabReclaimable.high : message.slabReclaimable !== 0))
                            writer.uint32(128).uint64(message.slabReclaimable);
                        if (message.slabUnreclaimable != null && $Object.hasOwnProperty.call(message, "slabUnreclaimable") && (typeof message.slabUnreclaimable === "object" ? message.slabUnreclaimable.low || message.slabUnreclaimable.high : message.slabUnreclaimable !== 0))
                            writer.uint32(136).uint64(message.slabUnreclaimable);
                        if (message.pgfault != null && $Object.hasOwnProperty.call(message, "pgfault") && (typeof message.pgfault === "object" ? message.pgfault.low || message.pgfault.high : message.pgfault !== 0))
                            writer.uint32(144).uint64(message.pgfault);
                        if (message.pgmajfault != null && $Object.hasOwnProperty.call(message, "pgmajfault") && (typeof message.pgmajfault === "object" ? message.pgmajfault.low || message.pgmajfault.high : message.pgmajfault !== 0))
                            writer.uint32(152).uint64(message.pgmajfault);
                        if (message.workingsetRefault != null && $Object.hasOwnProperty.call(message, "workingsetRefault") && (typeof message.workingsetRefault === "object" ? message.workingsetRefault.low || message.workingsetRefault.high : message.workingsetRefault !== 0))
                            writer.uint32(160).uint64(message.workingsetRefault);
                        if (message.workingsetActivate != null && $Object.hasOwnProperty.call(message, "workingsetActivate") && (typeof message.workingsetActivate === "object" ? message.workingsetActivate.low || message.workingsetActivate.high : message.workingsetActivate !== 0))
                            writer.uint32(168).uint64(message.workingsetActivate);
                        if (message.workingsetNodereclaim != null && $Object.hasOwnProperty.call(message, "workingsetNodereclaim") && (typeof message.workingsetNodereclaim === "object" ? message.workingsetNodereclaim.low || message.workingsetNodereclaim.high : message.workingsetNodereclaim !== 0))
                            writer.uint32(176).uint64(message.workingsetNodereclaim);
                        if (message.pgrefill != null && $Object.hasOwnProperty.call(message, "pgrefill") && (typeof message.pgrefill === "object" ? message.pgrefill.low || message.pgrefill.high : message.pgrefill !== 0))
                            writer.uint32(184).uint64(message.pgrefill);
                        if (message.pgscan != null && $Object.hasOwnProperty.call(message, "pgscan") && (typeof message.pgscan === "object" ? message.pgscan.low || message.pgscan.high : message.pgscan !== 0))
                            writer.uint32(192).uint64(message.pgscan);
                        if (message.pgsteal != null && $Object.hasOwnProperty.call(message, "pgsteal") && (typeof message.pgsteal === "object" ? message.pgsteal.low || message.pgsteal.high : message.pgsteal !== 0))
                            writer.uint32(200).uint64(message.pgsteal);
                        if (message.pgactivate != null && $Object.hasOwnProperty.call(message, "pgactivate") && (typeof message.pgactivate === "object" ? message.pgactivate.low || message.pgactivate.high : message.pgactivate !== 0))
                            writer.uint32(208).uint64(message.pgactivate);
                        if (message.pgdeactivate != null && $Object.hasOwnProperty.call(message, "pgdeactivate") && (typeof message.pgdeactivate === "object" ? message.pgdeactivate.low || message.pgdeactivate.high : message.pgdeactivate !== 0))
                            writer.uint32(216).uint64(message.pgdeactivate);
                        if (message.pglazyfree != null && $Object.hasOwnProperty.call(message, "pglazyfree") && (typeof message.pglazyfree === "object" ? message.pglazyfree.low || message.pglazyfree.high : message.pglazyfree !== 0))
                            writer.uint32(224).uint64(message.pglazyfree);
                        if (message.pglazyfreed != null && $Object.hasOwnProperty.call(message, "pglazyfreed") && (typeof message.pglazyfreed === "object" ? message.pglazyfreed.low || message.pglazyfreed.high : message.pglazyfreed !== 0))
                            writer.uint32(232).uint64(message.pglazyfreed);
                        if (message.thpFaultAlloc != null && $Object.hasOwnProperty.call(message, "thpFaultAlloc") && (typeof message.thpFaultAlloc === "object" ? message.thpFaultAlloc.low || message.thpFaultAlloc.high : message.thpFaultAlloc !== 0))
                            writer.uint32(240).uint64(message.thpFaultAlloc);
                        if (message.thpCollapseAlloc != null && $Object.hasOwnProperty.call(message, "thpCollapseAlloc") && (typeof message.thpCollapseAlloc === "object" ? message.thpCollapseAlloc.low || message.thpCollapseAlloc.high : message.thpCollapseAlloc !== 0))
                            writer.uint32(248).uint64(message.thpCollapseAlloc);
                        if (message.usage != null && $Object.hasOwnProperty.call(message, "usage") && (typeof message.usage === "object" ? message.usage.low || message.usage.high : message.usage !== 0))
                            writer.uint32(256).uint64(message.usage);
                        if (message.usageLimit != null && $Object.hasOwnProperty.call(message, "usageLimit") && (typeof message.usageLimit === "object" ? message.usageLimit.low || message.usageLimit.high : message.usageLimit !== 0))
                            writer.uint32(264).uint64(message.usageLimit);
                        if (message.swapUsage != null && $Object.hasOwnProperty.call(message, "swapUsage") && (typeof message.swapUsage === "object" ? message.swapUsage.low || message.swapUsage.high : message.swapUsage !== 0))
                            writer.uint32(272).uint64(message.swapUsage);
                        if (message.swapLimit != null && $Object.hasOwnProperty.call(message, "swapLimit") && (typeof message.swapLimit === "object" ? message.swapLimit.low || message.swapLimit.high : message.swapLimit !== 0))
                            writer.uint32(280).uint64(message.swapLimit);
                        if (message.maxUsage != null && $Object.hasOwnProperty.call(message, "maxUsage") && (typeof message.maxUsage === "object" ? message.maxUsage.low || message.maxUsage.high : message.maxUsage !== 0))
                            writer.uint32(288).uint64(message.maxUsage);
                        if (message.swapMaxUsage != null && $Object.hasOwnProperty.call(message, "swapMaxUsage") && (typeof message.swapMaxUsage === "object" ? message.swapMaxUsage.low || message.swapMaxUsage.high : message.swapMaxUsage !== 0))
                            writer.uint32(296).uint64(message.swapMaxUsage);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    MemoryStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.MemoryStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.anon = value;
                                    else
                                        delete message.anon;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.file = value;
                                    else
                                        delete message.file;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.kernelStack = value;
                                    else
                                        delete message.kernelStack;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.slab = value;
                                    else
                                        delete message.slab;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.sock = value;
                                    else
                                        delete message.sock;
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.shmem = value;
                                    else
                                        delete message.shmem;
                                    continue;
                                }
                            case 7: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.fileMapped = value;
                                    else
                                        delete message.fileMapped;
                                    continue;
                                }
                            case 8: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.fileDirty = value;
                                    else
                                        delete message.fileDirty;
                                    continue;
                                }
                            case 9: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.fileWriteback = value;
                                    else
                                        delete message.fileWriteback;
                                    continue;
                                }
                            case 10: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.anonThp = value;
                                    else
                                        delete message.anonThp;
                                    continue;
                                }
                            case 11: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.inactiveAnon = value;
                                    else
                                        delete message.inactiveAnon;
                                    continue;
                                }
                            case 12: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.activeAnon = value;
                                    else
                                        delete message.activeAnon;
                                    continue;
                                }
                            case 13: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.inactiveFile = value;
                                    else
                                        delete message.inactiveFile;
                                    continue;
                                }
                            case 14: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.activeFile = value;
                                    else
                                        delete message.activeFile;
                                    continue;
                                }
                            case 15: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.unevictable = value;
                                    else
                                        delete message.unevictable;
                                    continue;
                                }
                            case 16: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.slabReclaimable = value;
                                    else
                                        delete message.slabReclaimable;
                                    continue;
                                }
                            case 17: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.slabUnreclaimable = value;
                                    else
                                        delete message.slabUnreclaimable;
                                    continue;
                                }
                            case 18: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgfault = value;
                                    else
                                        delete message.pgfault;
                                    continue;
                                }
                            case 19: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgmajfault = value;
                                    else
                                        delete message.pgmajfault;
                                    continue;
                                }
                            case 20: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.workingsetRefault = value;
                                    else
                                        delete message.workingsetRefault;
                                    continue;
                                }
                            case 21: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.workingsetActivate = value;
                                    else
                                        delete message.workingsetActivate;
                                    continue;
                                }
                            case 22: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.workingsetNodereclaim = value;
                                    else
                                        delete message.workingsetNodereclaim;
                                    continue;
                                }
                            case 23: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgrefill = value;
                                    else
                                        delete message.pgrefill;
                                    continue;
                                }
                            case 24: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgscan = value;
                                    else
                                        delete message.pgscan;
                                    continue;
                                }
                            case 25: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgsteal = value;
                                    else
                                        delete message.pgsteal;
                                    continue;
                                }
                            case 26: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgactivate = value;
                                    else
                                        delete message.pgactivate;
                                    continue;
                                }
                            case 27: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pgdeactivate = value;
                                    else
                                        delete message.pgdeactivate;
                                    continue;
                                }
                            case 28: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pglazyfree = value;
                                    else
                                        delete message.pglazyfree;
                                    continue;
                                }
                            case 29: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.pglazyfreed = value;
                                    else
                                        delete message.pglazyfreed;
                                    continue;
                                }
                            case 30: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.thpFaultAlloc = value;
                                    else
                                        delete message.thpFaultAlloc;
                                    continue;
                                }
                            case 31: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.thpCollapseAlloc = value;
                                    else
                                        delete message.thpCollapseAlloc;
                                    continue;
                                }
                            case 32: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.usage = value;
                                    else
                                        delete message.usage;
                                    continue;
                                }
                            case 33: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.usageLimit = value;
                                    else
                                        delete message.usageLimit;
                                    continue;
                                }
                            case 34: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.swapUsage = value;
                                    else
                                        delete message.swapUsage;
                                    continue;
                                }
                            case 35: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.swapLimit = value;
                                    else
                                        delete message.swapLimit;
                                    continue;
                                }
                            case 36: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.maxUsage = value;
                                    else
                                        delete message.maxUsage;
                                    continue;
                                }
                            case 37: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.swapMaxUsage = value;
                                    else
                                        delete message.swapMaxUsage;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return MemoryStat;
                })();

                v2.MemoryEvents = (function() {

                    const MemoryEvents = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    MemoryEvents.prototype.low = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEvents.prototype.high = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEvents.prototype.max = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEvents.prototype.oom = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    MemoryEvents.prototype.oomKill = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    MemoryEvents.create = function(properties) {
                        return new MemoryEvents(properties);
                    };

                    MemoryEvents.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.low != null && $Object.hasOwnProperty.call(message, "low") && (typeof message.low === "object" ? message.low.low || message.low.high : message.low !== 0))
                            writer.uint32(8).uint64(message.low);
                        if (message.high != null && $Object.hasOwnProperty.call(message, "high") && (typeof message.high === "object" ? message.high.low || message.high.high : message.high !== 0))
                            writer.uint32(16).uint64(message.high);
                        if (message.max != null && $Object.hasOwnProperty.call(message, "max") && (typeof message.max === "object" ? message.max.low || message.max.high : message.max !== 0))
                            writer.uint32(24).uint64(message.max);
                        if (message.oom != null && $Object.hasOwnProperty.call(message, "oom") && (typeof message.oom === "object" ? message.oom.low || message.oom.high : message.oom !== 0))
                            writer.uint32(32).uint64(message.oom);
                        if (message.oomKill != null && $Object.hasOwnProperty.call(message, "oomKill") && (typeof message.oomKill === "object" ? message.oomKill.low || message.oomKill.high : message.oomKill !== 0))
                            writer.uint32(40).uint64(message.oomKill);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    MemoryEvents.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.MemoryEvents();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.low = value;
                                    else
                                        delete message.low;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.high = value;
                                    else
                                        delete message.high;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.max = value;
                                    else
                                        delete message.max;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.oom = value;
                                    else
                                        delete message.oom;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.oomKill = value;
                                    else
                                        delete message.oomKill;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return MemoryEvents;
                })();

                v2.RdmaStat = (function() {

                    const RdmaStat = function (properties) {
                        this.current = [];
                        this.limit = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    RdmaStat.prototype.current = $util.emptyArray;
                    RdmaStat.prototype.limit = $util.emptyArray;

                    RdmaStat.create = function(properties) {
                        return new RdmaStat(properties);
                    };

                    RdmaStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.current != null && message.current.length)
                            for (let i = 0; i < message.current.length; ++i)
                                $root.io.containerd.cgroups.v2.RdmaEntry.encode(message.current[i], writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.limit != null && message.limit.length)
                            for (let i = 0; i < message.limit.length; ++i)
                                $root.io.containerd.cgroups.v2.RdmaEntry.encode(message.limit[i], writer.uint32(18).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    RdmaStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.RdmaStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.current && message.current.length))
                                        message.current = [];
                                    message.current.push($root.io.containerd.cgroups.v2.RdmaEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.limit && message.limit.length))
                                        message.limit = [];
                                    message.limit.push($root.io.containerd.cgroups.v2.RdmaEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return RdmaStat;
                })();

                v2.RdmaEntry = (function() {

                    const RdmaEntry = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    RdmaEntry.prototype.device = "";
                    RdmaEntry.prototype.hcaHandles = 0;
                    RdmaEntry.prototype.hcaObjects = 0;

                    RdmaEntry.create = function(properties) {
                        return new RdmaEntry(properties);
                    };

                    RdmaEntry.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.device != null && $Object.hasOwnProperty.call(message, "device") && message.device !== "")
                            writer.uint32(10).string(message.device);
                        if (message.hcaHandles != null && $Object.hasOwnProperty.call(message, "hcaHandles") && message.hcaHandles !== 0)
                            writer.uint32(16).uint32(message.hcaHandles);
                        if (message.hcaObjects != null && $Object.hasOwnProperty.call(message, "hcaObjects") && message.hcaObjects !== 0)
                            writer.uint32(24).uint32(message.hcaObjects);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    RdmaEntry.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.RdmaEntry();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.device = value;
                                    else
                                        delete message.device;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (value = reader.uint32())
                                        message.hcaHandles = value;
                                    else
                                        delete message.hcaHandles;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (value = reader.uint32())
                                        message.hcaObjects = value;
                                    else
                                        delete message.hcaObjects;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return RdmaEntry;
                })();

                v2.IOStat = (function() {

                    const IOStat = function (properties) {
                        this.usage = [];
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    IOStat.prototype.usage = $util.emptyArray;

                    IOStat.create = function(properties) {
                        return new IOStat(properties);
                    };

                    IOStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.usage != null && message.usage.length)
                            for (let i = 0; i < message.usage.length; ++i)
                                $root.io.containerd.cgroups.v2.IOEntry.encode(message.usage[i], writer.uint32(10).fork(), _depth + 1).ldelim();
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    IOStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.IOStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 2)
                                        break;
                                    if (!(message.usage && message.usage.length))
                                        message.usage = [];
                                    message.usage.push($root.io.containerd.cgroups.v2.IOEntry.decode(reader, reader.size(), $undefined, _depth + 1));
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return IOStat;
                })();

                v2.IOEntry = (function() {

                    const IOEntry = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    IOEntry.prototype.major = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    IOEntry.prototype.minor = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    IOEntry.prototype.rbytes = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    IOEntry.prototype.wbytes = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    IOEntry.prototype.rios = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    IOEntry.prototype.wios = $util.Long ? $util.Long.fromBits(0,0,true) : 0;

                    IOEntry.create = function(properties) {
                        return new IOEntry(properties);
                    };

                    IOEntry.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.major != null && $Object.hasOwnProperty.call(message, "major") && (typeof message.major === "object" ? message.major.low || message.major.high : message.major !== 0))
                            writer.uint32(8).uint64(message.major);
                        if (message.minor != null && $Object.hasOwnProperty.call(message, "minor") && (typeof message.minor === "object" ? message.minor.low || message.minor.high : message.minor !== 0))
                            writer.uint32(16).uint64(message.minor);
                        if (message.rbytes != null && $Object.hasOwnProperty.call(message, "rbytes") && (typeof message.rbytes === "object" ? message.rbytes.low || message.rbytes.high : message.rbytes !== 0))
                            writer.uint32(24).uint64(message.rbytes);
                        if (message.wbytes != null && $Object.hasOwnProperty.call(message, "wbytes") && (typeof message.wbytes === "object" ? message.wbytes.low || message.wbytes.high : message.wbytes !== 0))
                            writer.uint32(32).uint64(message.wbytes);
                        if (message.rios != null && $Object.hasOwnProperty.call(message, "rios") && (typeof message.rios === "object" ? message.rios.low || message.rios.high : message.rios !== 0))
                            writer.uint32(40).uint64(message.rios);
                        if (message.wios != null && $Object.hasOwnProperty.call(message, "wios") && (typeof message.wios === "object" ? message.wios.low || message.wios.high : message.wios !== 0))
                            writer.uint32(48).uint64(message.wios);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    IOEntry.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.IOEntry();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.major = value;
                                    else
                                        delete message.major;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.minor = value;
                                    else
                                        delete message.minor;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rbytes = value;
                                    else
                                        delete message.rbytes;
                                    continue;
                                }
                            case 4: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.wbytes = value;
                                    else
                                        delete message.wbytes;
                                    continue;
                                }
                            case 5: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.rios = value;
                                    else
                                        delete message.rios;
                                    continue;
                                }
                            case 6: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.wios = value;
                                    else
                                        delete message.wios;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return IOEntry;
                })();

                v2.HugeTlbStat = (function() {

                    const HugeTlbStat = function (properties) {
                        if (properties)
                            for (let keys = $Object.keys(properties), i = 0; i < keys.length; ++i)
                                if (properties[keys[i]] != null && keys[i] !== "__proto__")
                                    this[keys[i]] = properties[keys[i]];
                    };

                    HugeTlbStat.prototype.current = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    HugeTlbStat.prototype.max = $util.Long ? $util.Long.fromBits(0,0,true) : 0;
                    HugeTlbStat.prototype.pagesize = "";

                    HugeTlbStat.create = function(properties) {
                        return new HugeTlbStat(properties);
                    };

                    HugeTlbStat.encode = function (message, writer, _depth) {
                        if (!writer)
                            writer = $Writer.create();
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $util.recursionLimit)
                            throw $Error("max depth exceeded");
                        if (message.current != null && $Object.hasOwnProperty.call(message, "current") && (typeof message.current === "object" ? message.current.low || message.current.high : message.current !== 0))
                            writer.uint32(8).uint64(message.current);
                        if (message.max != null && $Object.hasOwnProperty.call(message, "max") && (typeof message.max === "object" ? message.max.low || message.max.high : message.max !== 0))
                            writer.uint32(16).uint64(message.max);
                        if (message.pagesize != null && $Object.hasOwnProperty.call(message, "pagesize") && message.pagesize !== "")
                            writer.uint32(26).string(message.pagesize);
                        if (message.$unknowns != null && $Object.hasOwnProperty.call(message, "$unknowns"))
                            for (let i = 0; i < message.$unknowns.length; ++i)
                                writer.raw(message.$unknowns[i]);
                        return writer;
                    };

                    HugeTlbStat.decode = function (reader, length, _end, _depth, _target) {
                        if (!(reader instanceof $Reader))
                            reader = $Reader.create(reader);
                        if (_depth === $undefined)
                            _depth = 0;
                        if (_depth > $Reader.recursionLimit)
                            throw $Error("max depth exceeded");
                        let end, message, value;
                        if (length === $undefined)
                            end = reader.len;
                        else {
                            end = reader.pos + length;
                            if (end > reader.len)
                                throw $RangeError("index out of range");
                            length = reader.len;
                            reader.len = end;
                        }
                        message = _target || new $root.io.containerd.cgroups.v2.HugeTlbStat();
                        while (reader.pos < end) {
                            let start = reader.pos;
                            let tag = reader.tag();
                            if (tag === _end) {
                                _end = $undefined;
                                break;
                            }
                            let wireType = tag & 7;
                            switch (tag >>>= 3) {
                            case 1: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.current = value;
                                    else
                                        delete message.current;
                                    continue;
                                }
                            case 2: {
                                    if (wireType !== 0)
                                        break;
                                    if (typeof (value = reader.uint64()) === "object" ? value.low || value.high : value !== 0)
                                        message.max = value;
                                    else
                                        delete message.max;
                                    continue;
                                }
                            case 3: {
                                    if (wireType !== 2)
                                        break;
                                    if ((value = reader.stringVerify()).length)
                                        message.pagesize = value;
                                    else
                                        delete message.pagesize;
                                    continue;
                                }
                            }
                            reader.skipType(wireType, _depth, tag);
                            if (!reader.discardUnknown) {
                                $util.makeProp(message, "$unknowns", false);
                                (message.$unknowns || (message.$unknowns = [])).push(reader.raw(start, reader.pos));
                            }
                        }
                        if (length !== $undefined) {
                            if (reader.pos !== end)
                                throw $RangeError("index out of range");
                            reader.len = length;
                        }
                        if (_end !== $undefined)
                            throw $Error("missing end group");
                        return message;
                    };

                    return HugeTlbStat;
                })();

                return v2;
            })();

            return cgroups;
        })();

        return containerd;
    })();

    return io;
})();

export {
  $root as default
};
