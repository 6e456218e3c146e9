// Package generate writes an app's deployment artifacts from its analysis
// and its deployment.json (ECS task definition and CloudFormation, App
// Runner, pipelines, Kubernetes manifests, compose) and validates them
// before anything is written. It talks to no server.
package generate
