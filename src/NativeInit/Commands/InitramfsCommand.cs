using System.Text.Json;
using NativeInit.Cli;
using NativeInit.Core;
using NativeInit.Core.Boot.Init;
using NativeInit.Core.Boot.Initramfs;

namespace NativeInit;

/// <summary>`nativeinit initramfs`: builds a minimal initramfs whose /init is this nativeinit.</summary>
internal static class InitramfsCommand
{
    public static readonly CommandSpec Spec = new()
    {
        Name = "initramfs",
        JsonSchema = "initramfs",
        Summary = "build a minimal initramfs (gzip newc cpio) with nativeinit as /init, kernel modules and tools",
        Usage = "initramfs --output FILE [--kmoddir DIR] [--module NAME]... [--tool PROGRAM]... [--busybox PATH] [--init PATH] [--no-compress] [--dry-run] [--json]",
        Options =
        [
            new("output", "o", "FILE", "the image to write"),
            new("kmoddir", null, "DIR", "the kernel's module folder, lib/modules/VERSION (its modules.dep is used)"),
            new("module", "m", "NAME", "a module /init loads at boot, with what it needs (default: " + string.Join(' ', InitramfsBuilder.DefaultModules) + ")", Repeatable: true),
            new("tool", "t", "PROGRAM", "a program to include with its libraries (default: " + string.Join(' ', InitramfsBuilder.DefaultTools) + ", when present)", Repeatable: true),
            new("no-tools", null, null, "include no tools"),
            new("busybox", null, "PATH", "a static busybox for the rescue shell (/bin/sh)"),
            new("key", null, "PUB", "the vendor's public key, installed as /etc/nativeinit/vendor.pub (convert's default --key)"),
            new("init", null, "PATH", "the nativeinit executable to use as /init (default: this one)"),
            new("no-compress", null, null, "write the cpio uncompressed"),
            new("dry-run", "n", null, "print what would go in; write nothing"),
            new("json", null, null, "print the result as one JSON object"),
        ],
        Description = "The image boots with any kernel whose modules are given: /init mounts /proc, /sys, /dev and /run, " +
            "loads the modules, waits for rd.nativeinit.disk=, runs rd.nativeinit=selftest|convert|resume|shell, and powers off " +
            "or reboots. /init is the executable given by --init, which must be the static build.",
        Run = Run,
    };

    private static int Run(ParsedArgs args, CommandContext ctx)
    {
        string output = args.Require("output");
        string init = args.Get("init") ?? Environment.ProcessPath ?? throw new UsageException("--init is required (the executable path is unknown)");
        var modules = args.GetAll("module");
        var tools = args.Has("no-tools") ? [] : args.GetAll("tool").Count > 0 ? args.GetAll("tool")
            : InitramfsBuilder.DefaultTools.Where(t => InitramfsBuilder.FindProgram(t) is not null).ToList();
        var options = new InitramfsOptions
        {
            InitBinary = init,
            ModuleDirectory = args.Get("kmoddir"),
            Modules = modules.Count > 0 ? modules : InitramfsBuilder.DefaultModules,
            Tools = tools,
            Busybox = args.Get("busybox"),
            VendorKey = args.Get("key"),
            Compress = !args.Has("no-compress"),
        };
        if (args.Has("dry-run"))
        {
            InitramfsBuilder.CheckInputs(options, output);
            if (options.ModuleDirectory is { } d)
                foreach (var m in new ModuleIndex(d).Resolve(options.Modules)) ctx.Out.WriteLine($"module  {m}");
            foreach (var t in tools)
            {
                string host = InitramfsBuilder.FindProgram(t) ?? throw new NativeInitException($"tool '{t}': not found");
                ctx.Out.WriteLine($"tool    {host}");
                foreach (var n in ElfDependencies.Resolve(host)) ctx.Out.WriteLine($"library {n.ImagePath}");
            }
            ctx.Out.WriteLine($"init    {init}");
            ctx.Out.WriteLine($"(dry run: {output} not written)");
            return ExitCodes.Success;
        }
        var r = InitramfsBuilder.Build(options, output);
        if (args.Has("json"))
        {
            ctx.Out.WriteJson(w =>
            {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 1);
            w.WriteString("output", r.Output);
            w.WriteNumber("size", r.Size);
            w.WriteNumber("uncompressedSize", r.UncompressedSize);
            w.WriteNumber("entries", r.Entries);
            if (r.KernelVersion is null) w.WriteNull("kernelVersion"); else w.WriteString("kernelVersion", r.KernelVersion);
            w.WriteStartArray("modules"); foreach (var m in r.ModuleFiles) w.WriteStringValue(m); w.WriteEndArray();
            w.WriteStartArray("tools"); foreach (var t in r.Tools) w.WriteStringValue(t); w.WriteEndArray();
            w.WriteStartArray("libraries"); foreach (var l in r.Libraries) w.WriteStringValue(l); w.WriteEndArray();
            w.WriteEndObject();
            }, indented: false);
            return ExitCodes.Success;
        }
        ctx.Out.WriteLine($"{r.Output}: {ByteSize.Format(r.Size)} ({r.Size} bytes; {ByteSize.Format(r.UncompressedSize)} uncompressed), {r.Entries} entries");
        ctx.Out.WriteLine($"  kernel {r.KernelVersion ?? "(no modules)"}: {r.ModuleFiles.Count} module files for {string.Join(' ', options.Modules)}");
        ctx.Out.WriteLine($"  tools: {(r.Tools.Count == 0 ? "(none)" : string.Join(' ', r.Tools))}; {r.Libraries.Count} libraries");
        return ExitCodes.Success;
    }
}
