using System.CommandLine;
using Synera.Grains.Verification;
using TorchSharp;

namespace Synera.Cli.Commands;

/// <summary>The <c>--device cpu|cuda|auto</c> option of the commands that run the TorchSharp model.</summary>
public static class DeviceOption
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--device") { Description = "cpu, cuda or auto (cuda when available)", DefaultValueFactory = _ => "cpu" };
        option.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        return option;
    }

    public static torch.Device Resolve(ParseResult parse, Option<string> option) => TorchModelRunner.SelectDevice(parse.GetValue(option)!);
}
