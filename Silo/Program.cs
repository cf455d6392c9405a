// The Synera silo host. Role, clustering, storage and the verifier's model come from configuration
// (appsettings.json, SYNERA__* environment variables, or --Synera:Role=frontend style arguments).
using Microsoft.Extensions.Hosting;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;

var builder = Host.CreateApplicationBuilder(args);
builder.AddServiceDefaults();
builder.UseOrleans(silo => silo.UseSyneraClustering(builder.Configuration).UseSyneraTls(builder.Configuration).AddSynera(builder.Configuration));
await builder.Build().RunAsync();
