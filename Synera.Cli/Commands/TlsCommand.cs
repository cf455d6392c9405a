using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Spectre.Console;
using Synera.Silo.Hosting;

namespace Synera.Cli.Commands;

/// <summary><c>synera tls create --out cluster.pfx [--name synera-cluster] [--password P]</c>: a self-signed cluster
/// certificate for <c>synera silo --tls-cert</c>; devices pin the thumbprint it prints (<c>--tls-thumbprint</c>).</summary>
public static class TlsCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "PKCS#12 file to write (certificate and private key)", Required = true };
        var name = new Option<string>("--name") { Description = "the certificate's DNS name (silos check it on each other)", DefaultValueFactory = _ => "synera-cluster" };
        var password = new Option<string?>("--password") { Description = "protect the file with this password" };
        var days = new Option<int>("--days") { Description = "validity in days", DefaultValueFactory = _ => 365 };
        var create = new Command("create", "Create a self-signed cluster certificate") { output, name, password, days };
        create.SetAction(parse =>
        {
            var path = parse.GetValue(output)!;
            if (File.Exists(path)) throw new IOException($"{path} exists; choose another --out (a cluster's certificate is not overwritten by accident)");
            using var certificate = SelfSignedCertificate.Create(parse.GetValue(name)!, TimeSpan.FromDays(parse.GetValue(days)));
            File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, parse.GetValue(password)));
            AnsiConsole.MarkupLineInterpolated($"wrote {path}: CN={parse.GetValue(name)}, valid until {certificate.NotAfter:yyyy-MM-dd}");
            AnsiConsole.MarkupLine("silos: [bold]synera silo … --tls-cert " + Markup.Escape(path) + "[/]; devices and operators: [bold]--tls-thumbprint " + certificate.Thumbprint + "[/]");
            return 0;
        });
        var command = new Command("tls", "TLS certificates for the cluster's connections") { create };
        return command;
    }
}
