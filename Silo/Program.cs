// The Synera silo host. Role, clustering, storage and the verifier's model come from configuration
// (appsettings.json, SYNERA__* environment variables, or --Synera:Role=frontend style arguments).
// Every silo feeds the Orleans dashboard; the one with Synera:Dashboard=true (the AppHost's frontend) serves it on its
// HTTP endpoint (ASPNETCORE_URLS).
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Dashboard;
using Synera.Grains.Hosting;
using Synera.Silo.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
// Under the AppHost, Aspire's Orleans integration points Orleans' providers at the store by service key: one Redis
// connection (with its health check and traces) per key.
foreach (var key in SyneraClusteringExtensions.OrleansServiceKeys(builder.Configuration)) builder.AddKeyedRedisClient(key);
var servesDashboard = builder.Configuration.GetValue<bool>("Synera:Dashboard");
if (!servesDashboard) builder.WebHost.UseUrls("http://127.0.0.1:0");   // no web surface of its own
builder.UseOrleans(silo => silo.UseSyneraClustering(builder.Configuration).UseSyneraTls(builder.Configuration).AddSynera(builder.Configuration).AddDashboard());
var app = builder.Build();
if (servesDashboard) app.MapOrleansDashboard();
await app.RunAsync();
